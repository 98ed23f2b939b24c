"""/admin: the console for organization admins (their organizations) and super-admins (all).
Every handler calls a service; refusals are 403 pages and audit events."""

from fastapi import APIRouter

from twofold.web.pages.admin import api_keys, applications, audit, invite, members, policy

router = APIRouter()
for part in (members, policy, audit, invite, applications, api_keys):
    router.include_router(part.router)
