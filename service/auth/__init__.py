"""Authentication, authorisation, request rate and the audit trail.

Public helpers for route modules:

- `principal(request)`: the caller (`Principal`: name, owner, scopes, patterns), with
  `check_pipelines(names)` / `check_filter(query)` raising 403 outside its pipelines and
  `require(scope)` for actions needing more than the route's scope;
- `caller_name(request)`: who the caller is, as recorded on what it creates;
- `record(request, action, target, details)`: append to the audit trail (who, what,
  when), after the change succeeded.
"""

from service.auth.audit import record
from service.auth.principal import Principal, caller_name, principal

__all__ = ["Principal", "caller_name", "principal", "record"]
