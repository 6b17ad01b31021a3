"""Authentication, authorisation, request rate and the audit trail.

Public helpers for route modules:

- `principal(request)`: the caller (`Principal`: name, owner, scopes, patterns), with
  `check_pipelines(names)` / `check_filter(query)` raising 403 outside its pipelines and
  `require(scope)` for actions needing more than the route's scope;
- `record(request, action, target, details)`: append to the audit trail (who, what,
  when), after the change succeeded.
"""

from service.auth.audit import record
from service.auth.principal import Principal, principal

__all__ = ["Principal", "principal", "record"]
