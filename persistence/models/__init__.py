"""All mapped tables; importing this package registers every model on ``Base.metadata``."""

from persistence.models.api_key import ApiKey
from persistence.models.audit import AuditEntry
from persistence.models.base import Base
from persistence.models.billing_lock import BillingPeriodLock
from persistence.models.client import Client
from persistence.models.idempotency import IdempotencyRecord
from persistence.models.membership import Membership
from persistence.models.org import Org
from persistence.models.person import Person
from persistence.models.project import Project
from persistence.models.site import Site
from persistence.models.user import User

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "BillingPeriodLock",
    "Client",
    "IdempotencyRecord",
    "Membership",
    "Org",
    "Person",
    "Project",
    "Site",
    "User",
]
