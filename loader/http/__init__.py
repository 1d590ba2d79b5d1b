"""One HTTP layer for every source (see `loader.http.client`)."""

from loader.http.client import Fetched, HttpClient
from loader.http.policy import RETRY_STATUSES, RetryPolicy, Timeouts, TransientError
from loader.http.urls import check_base_url, is_loopback

__all__ = [
    "RETRY_STATUSES",
    "Fetched",
    "HttpClient",
    "RetryPolicy",
    "Timeouts",
    "TransientError",
    "check_base_url",
    "is_loopback",
]
