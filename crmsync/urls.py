from django.contrib import admin
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic.base import RedirectView

from mailboxes.webhooks.views import graph_notifications


class FaviconRedirect(RedirectView):
    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        # At request time: the static files' manifest exists only after collectstatic.
        return static("crmsync/favicon.svg")


# The admin's app list beside every page takes 300 px that lists need on a 1366 px screen;
# the index page and the breadcrumbs lead to every list.
admin.site.enable_nav_sidebar = False

# Nothing under MEDIA_ROOT is served as a file, not even with DEBUG on: attachments and kept
# messages are downloaded through `activities.downloads`, which checks who may see them.
urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the API's, a file download).
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
    path("accounts/", include("django.contrib.auth.urls")),
    # Microsoft Graph's change notifications (CRMSYNC_GRAPH_NOTIFICATION_URL points here)
    path("graph/notifications/", graph_notifications, name="graph-notifications"),
    path("api/", include("activities.api.urls")),
    path("", include("activities.urls")),
    path("", include("mailboxes.urls")),
    path("", include("users.urls")),
]
