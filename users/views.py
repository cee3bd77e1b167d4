"""The signed-in person's own preferences (their time zone)."""

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from users.models import User


def time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(zoneinfo.available_timezones() - {"localtime"})
    default = f"The installation's ({settings.TIME_ZONE})"
    return [("", default), *((name, name.replace("_", " ")) for name in names)]


class PreferencesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        required=False,
        help_text="Times on every page are shown in this time zone.",
    )

    class Meta:
        model = User
        fields = ("time_zone",)


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PreferencesForm(request.POST or None, instance=user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Your preferences are saved.")
            return HttpResponseRedirect(reverse("users:preferences"))
        messages.error(request, "Nothing was saved: correct the fields marked below.")
    return render(
        request,
        "selfservice/preferences.html",
        {"form": form, "now": timezone.now()},
        status=400 if form.errors else 200,
    )
