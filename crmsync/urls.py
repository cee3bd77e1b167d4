from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

# Nothing under MEDIA_ROOT is served as a file, not even with DEBUG on: attachments and kept
# messages are downloaded through `activities.downloads`, which checks who may see them.
urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("activities.api.urls")),
    path("", include("activities.urls")),
    path("", include("mailboxes.urls")),
]
