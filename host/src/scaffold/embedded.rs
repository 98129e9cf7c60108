//! The files a scaffold is made of, compiled into the binary: the WIT, the
//! README template and the unpublished SDKs a Python or JavaScript
//! scaffold carries in its `sdk/`.

/// The WIT every scaffold carries as `wit/consumer.wit`.
pub(super) const WIT: &str = include_str!("../../../wit/consumer.wit");
pub(super) const README: &str = include_str!("../../templates/README.md");

/// wasmsock's Channels SDK for Python (`sdk/python` but its unit tests),
/// written into a Python scaffold's `sdk/`, where its `build.sh` looks: the
/// SDK is not published, and a scaffold must build outside a clone.
pub(super) const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "sdk/README.md",
        include_str!("../../../sdk/python/README.md"),
    ),
    (
        "sdk/asgiref/__init__.py",
        include_str!("../../../sdk/python/asgiref/__init__.py"),
    ),
    (
        "sdk/asgiref/sync.py",
        include_str!("../../../sdk/python/asgiref/sync.py"),
    ),
    ("sdk/build.sh", include_str!("../../../sdk/python/build.sh")),
    (
        "sdk/channels/__init__.py",
        include_str!("../../../sdk/python/channels/__init__.py"),
    ),
    (
        "sdk/channels/auth.py",
        include_str!("../../../sdk/python/channels/auth.py"),
    ),
    (
        "sdk/channels/consumer.py",
        include_str!("../../../sdk/python/channels/consumer.py"),
    ),
    (
        "sdk/channels/db.py",
        include_str!("../../../sdk/python/channels/db.py"),
    ),
    (
        "sdk/channels/exceptions.py",
        include_str!("../../../sdk/python/channels/exceptions.py"),
    ),
    (
        "sdk/channels/generic/__init__.py",
        include_str!("../../../sdk/python/channels/generic/__init__.py"),
    ),
    (
        "sdk/channels/generic/websocket.py",
        include_str!("../../../sdk/python/channels/generic/websocket.py"),
    ),
    (
        "sdk/channels/layers.py",
        include_str!("../../../sdk/python/channels/layers.py"),
    ),
    (
        "sdk/channels/middleware.py",
        include_str!("../../../sdk/python/channels/middleware.py"),
    ),
    (
        "sdk/channels/routing.py",
        include_str!("../../../sdk/python/channels/routing.py"),
    ),
    (
        "sdk/channels/security/__init__.py",
        include_str!("../../../sdk/python/channels/security/__init__.py"),
    ),
    (
        "sdk/channels/security/websocket.py",
        include_str!("../../../sdk/python/channels/security/websocket.py"),
    ),
    (
        "sdk/channels/sessions.py",
        include_str!("../../../sdk/python/channels/sessions.py"),
    ),
    (
        "sdk/django/__init__.py",
        include_str!("../../../sdk/python/django/__init__.py"),
    ),
    (
        "sdk/django/urls/__init__.py",
        include_str!("../../../sdk/python/django/urls/__init__.py"),
    ),
    (
        "sdk/wasmsock_app.py",
        include_str!("../../../sdk/python/wasmsock_app.py"),
    ),
    (
        "sdk/wasmsock_build.py",
        include_str!("../../../sdk/python/wasmsock_build.py"),
    ),
    (
        "sdk/wasmsock_channels/__init__.py",
        include_str!("../../../sdk/python/wasmsock_channels/__init__.py"),
    ),
    (
        "sdk/wasmsock_channels/aio.py",
        include_str!("../../../sdk/python/wasmsock_channels/aio.py"),
    ),
    (
        "sdk/wasmsock_channels/app.py",
        include_str!("../../../sdk/python/wasmsock_channels/app.py"),
    ),
    (
        "sdk/wasmsock_channels/plugin.py",
        include_str!("../../../sdk/python/wasmsock_channels/plugin.py"),
    ),
    (
        "sdk/wasmsock_channels/routes.py",
        include_str!("../../../sdk/python/wasmsock_channels/routes.py"),
    ),
    (
        "sdk/wasmsock_channels/runtime.py",
        include_str!("../../../sdk/python/wasmsock_channels/runtime.py"),
    ),
    (
        "sdk/wasmsock_channels/scope.py",
        include_str!("../../../sdk/python/wasmsock_channels/scope.py"),
    ),
    (
        "sdk/wasmsock_channels/urls.py",
        include_str!("../../../sdk/python/wasmsock_channels/urls.py"),
    ),
];

/// wasmsock's JavaScript SDK (`sdk/js` but its unit tests), written into a
/// JavaScript scaffold's `sdk/` for the same reason.
pub(super) const JS_SDK: &[(&str, &str)] = &[
    ("sdk/README.md", include_str!("../../../sdk/js/README.md")),
    ("sdk/build.mjs", include_str!("../../../sdk/js/build.mjs")),
    ("sdk/build.sh", include_str!("../../../sdk/js/build.sh")),
    ("sdk/index.d.ts", include_str!("../../../sdk/js/index.d.ts")),
    ("sdk/index.js", include_str!("../../../sdk/js/index.js")),
    ("sdk/plugin.js", include_str!("../../../sdk/js/plugin.js")),
];
