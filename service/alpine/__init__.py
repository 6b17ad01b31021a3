"""The Alpine Chorus surface: what the unmodified `alpine` 1.0.14 client speaks.

`chorus` serves sessions, workspaces and workfiles under `<SLUICE_ALPINE_PREFIX>/api`;
`engine` serves runs at `/alpinedatalabs/api/v1/json`, where the client always sends
them. Both are thin: workspaces, workfiles and runs are Sluice's own (service/workfiles),
users and sessions the one user store (service/users). The client's `Content-Type`
headers are sticky and often wrong, so no route looks at them: each route decides how
its body is read (`forms`).
"""
