"""django-axes' admin screens that show something here: only the access attempts (the failed
sign-ins that lock a user name or address out; deleting a row lifts its lock). Successful
sign-ins and a separate failure log are not recorded (see the settings), so their screens go."""

from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin

admin.site.unregister(AccessLog)
admin.site.unregister(AccessFailureLog)
