from django.urls import path

from activities import downloads

app_name = "activities"

urlpatterns = [
    path(
        "attachments/<int:attachment_id>/download/",
        downloads.attachment_download,
        name="attachment-download",
    ),
    path("emails/<int:email_id>/raw/", downloads.raw_message_download, name="raw-message-download"),
]
