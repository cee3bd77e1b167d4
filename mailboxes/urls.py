from django.urls import URLPattern

app_name = "mailboxes"

urlpatterns: list[URLPattern] = []
