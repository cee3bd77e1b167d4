"""Wrong API tokens are counted per address; an address that guesses is refused (429)."""

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import People, client_for

LIST_URL = "/api/v1/emails/"


def wrong_token_client(address: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    return client


@override_settings(API_AUTH_FAILURE_LIMIT=3)
def test_an_address_that_guesses_tokens_is_refused_even_with_a_right_one(
    people: People,
) -> None:
    guesser = wrong_token_client()
    answers = [guesser.get(LIST_URL).status_code for _ in range(4)]

    # three wrong tokens are refused as wrong; the fourth attempt is refused for the guessing
    assert answers == [401, 401, 401, 429]
    token, _ = Token.objects.get_or_create(user=people.alice)
    guesser.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    refused = guesser.get(LIST_URL)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 600
    assert "Too many wrong API tokens" in refused.json()["detail"]


@override_settings(API_AUTH_FAILURE_LIMIT=3)
def test_other_addresses_and_signed_in_users_are_not_affected(people: People) -> None:
    guesser = wrong_token_client()
    for _ in range(4):
        guesser.get(LIST_URL)

    elsewhere = client_for(people.alice)  # the test client's own address
    assert elsewhere.get(LIST_URL).status_code == 200
    signed_in = APIClient(REMOTE_ADDR="203.0.113.7")
    signed_in.force_login(people.alice)
    assert signed_in.get(LIST_URL).status_code == 200


@override_settings(API_AUTH_FAILURE_LIMIT=3, API_AUTH_FAILURE_MINUTES=1)
def test_the_count_ends_with_its_window(people: People) -> None:
    guesser = wrong_token_client()
    for _ in range(3):
        guesser.get(LIST_URL)
    assert guesser.get(LIST_URL).status_code == 429

    cache.delete("api-token-failures:203.0.113.7")  # what the window's expiry does

    assert guesser.get(LIST_URL).status_code == 401


@override_settings(API_AUTH_FAILURE_LIMIT=2)
def test_a_download_link_with_a_guessed_token_is_refused_without_an_error(
    people: People,
) -> None:
    guesser = wrong_token_client()
    for _ in range(2):
        guesser.get(LIST_URL)

    response = guesser.get("/attachments/1/download/")

    assert response.status_code == 302  # to the sign-in page, as for any wrong token
    assert "/login" in response["Location"]


def test_the_count_is_shared_through_redis(people: People) -> None:
    # Every web process must see the same count: with the Redis cache the production settings
    # choose, a count made through one connection is seen by another.
    url = settings.CRMSYNC_REDIS_URL
    if not url:
        pytest.skip("CELERY_BROKER_URL / CRMSYNC_REDIS_URL names no Redis")
    prefix = f"crmsync-test-{uuid.uuid4().hex}"
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    with override_settings(
        API_AUTH_FAILURE_LIMIT=2, CACHES={"default": {**redis, "KEY_PREFIX": prefix}}
    ):
        guesser = wrong_token_client("198.51.100.9")
        answers = [guesser.get(LIST_URL).status_code for _ in range(3)]
        other_process = RedisCache(url, {"KEY_PREFIX": prefix})
        try:
            assert answers == [401, 401, 429]
            assert other_process.get("api-token-failures:198.51.100.9") == 2
        finally:
            other_process.delete("api-token-failures:198.51.100.9")
