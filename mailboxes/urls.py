from django.urls import path

from mailboxes.web import live, outbox, views

app_name = "mailboxes"

urlpatterns = [
    path("", views.home, name="home"),
    path("mailbox/", views.my_mailbox, name="my-mailbox"),
    path("mailboxes/<int:mailbox_id>/", views.mailbox_page, name="mailbox"),
    path("mailboxes/<int:mailbox_id>/state/", live.mailbox_state, name="mailbox-state"),
    path("mailboxes/<int:mailbox_id>/test/", views.test_connection, name="test-connection"),
    path("mailboxes/<int:mailbox_id>/sync/", views.sync_now, name="sync-now"),
    path("mailboxes/<int:mailbox_id>/folders/", views.add_tracking_folder, name="add-folder"),
    path(
        "mailboxes/<int:mailbox_id>/folders/refresh/",
        views.refresh_folder_list,
        name="refresh-folders",
    ),
    path(
        "mailboxes/<int:mailbox_id>/folders/<int:folder_id>/remove/",
        views.remove_tracking_folder,
        name="remove-folder",
    ),
    path(
        "mailboxes/<int:mailbox_id>/processed/<int:record_id>/track/",
        views.track_now,
        name="track-now",
    ),
    path(
        "mailboxes/<int:mailbox_id>/outbox/<int:email_id>/",
        outbox.decide_uncertain_email,
        name="decide-uncertain-email",
    ),
    path(
        "mailboxes/<int:mailbox_id>/conflicts/<int:mapping_id>/",
        views.decide_conflict,
        name="decide-conflict",
    ),
]
