"""Prepare a folder of Channels code for componentize-py, and write the
plugin's manifest with the routes its routing.py declares.

    python3 wasmsock_build.py --src DIR --name NAME --work WORK --manifest OUT.toml

- copies the folder's Python code to WORK/app and this SDK to WORK/sdk
  (componentize-py then builds from ``-p WORK/app -p WORK/sdk
  wasmsock_app``; building from copies keeps ``__pycache__`` out of both);
- finds the plugin's module: ``routing.py`` at the top of the folder or in
  one package of it, else ``consumers.py`` (see ``wasmsock_channels.app``)
  and records it in WORK/app/_wasmsock_plugin.py for the plugin;
- imports it here, with this Python, as the plugin will, and turns its
  patterns into the server's routes (``wasmsock_channels.routes``),
  stopping with the reason when one cannot be routed;
- writes OUT.toml: ``routes = [...]`` followed by the folder's own
  settings, ``plugin.toml`` (any manifest key but ``routes``), when it has
  one. (Not ``NAME.toml``: that is what a build in the folder writes.)

Exit status 1 with a message on stderr when the folder cannot be built.
"""

import argparse
import json
import os
import re
import shutil
import sys
import traceback

SDK = os.path.dirname(os.path.abspath(__file__))
# Written at the top of every manifest this script writes, so that a later
# build knows the file is its own to replace or remove.
MARK = "# Written by build.sh"

# What in a plugin folder is not the plugin's Python code.
_SKIP = {"sdk", "wit", "__pycache__", "node_modules", "build.sh", "README.md"}
# The plugin's own manifest settings, in its folder.
SETTINGS = "plugin.toml"


def fail(message):
    print(f"build: {message}", file=sys.stderr)
    sys.exit(1)


def find_module(src):
    """``(kind, module)``: the routing module or the consumers module."""
    if os.path.isfile(os.path.join(src, "routing.py")):
        return "routing", "routing"
    packages = sorted(
        entry
        for entry in os.listdir(src)
        if entry not in _SKIP
        and os.path.isfile(os.path.join(src, entry, "__init__.py"))
        and os.path.isfile(os.path.join(src, entry, "routing.py"))
    )
    if len(packages) > 1:
        fail(
            f"{src}: several packages have a routing.py ({', '.join(packages)}); "
            "keep one, or put a routing.py at the top of the folder that combines them"
        )
    if packages:
        return "routing", f"{packages[0]}.routing"
    if os.path.isfile(os.path.join(src, "consumers.py")):
        return "consumers", "consumers"
    fail(
        f"{src}: no routing.py and no consumers.py: a Channels plugin needs its "
        "consumers.py, and a routing.py (websocket_urlpatterns) to route them"
    )


def copy_code(src, dest):
    def ignore(folder, names):
        top = os.path.abspath(folder) == os.path.abspath(src)
        return [
            n
            for n in names
            if n.startswith(".")
            or n == "__pycache__"
            or n.endswith((".wasm", ".pyc"))
            or (top and (n in _SKIP or n.endswith(".toml")))
        ]

    shutil.copytree(src, dest, ignore=ignore)


def copy_sdk(dest):
    shutil.copytree(SDK, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "README.md"))


def user_manifest(src):
    path = os.path.join(src, SETTINGS)
    if not os.path.isfile(path):
        return None, None
    with open(path, encoding="utf-8") as f:
        return path, f.read()


def declares_routes(text):
    """Whether a manifest sets ``routes`` at its top level (before any
    ``[table]``)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            return False
        if re.match(r"routes\s*=", stripped):
            return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the plugin's folder")
    parser.add_argument("--name", required=True, help="the plugin's name")
    parser.add_argument("--work", required=True, help="an empty folder to build in")
    parser.add_argument("--manifest", required=True, help="where to write the manifest")
    args = parser.parse_args()

    src = os.path.abspath(args.src)
    kind, module = find_module(src)
    app_dir = os.path.join(args.work, "app")
    sdk_dir = os.path.join(args.work, "sdk")
    copy_code(src, app_dir)
    copy_sdk(sdk_dir)
    with open(os.path.join(app_dir, "_wasmsock_plugin.py"), "w", encoding="utf-8") as f:
        f.write(
            '"""Written by wasmsock_build.py: the module the plugin serves."""\n'
            f"KIND = {kind!r}\nMODULE = {module!r}\n"
        )

    # Import the plugin's code as the plugin will: its folder first, then
    # the SDK (whose channels/, asgiref/ and django/ stand in for the real
    # ones), nothing written beside the sources.
    sys.dont_write_bytecode = True
    sys.path[:0] = [app_dir, sdk_dir]
    from wasmsock_channels.app import PluginError, load_application
    from wasmsock_channels.routes import RoutingError, server_routes
    from wasmsock_channels.urls import ImproperlyConfigured

    shown = module.replace(".", "/") + ".py"
    try:
        application = load_application(kind, module)
    except (PluginError, ImproperlyConfigured, TypeError) as e:
        fail(f"{shown}: {e}")
    except Exception:
        traceback.print_exc()
        fail(f"importing {shown} failed (traceback above)")
    try:
        routes = server_routes(application)
    except RoutingError as e:
        fail(f"{shown}: {e}")

    path, text = user_manifest(src)
    out = args.manifest
    if routes is not None:
        if text is not None and declares_routes(text):
            fail(
                f"{path} sets routes, and {shown} routes too; the routes come from "
                f"{shown}: remove them from {os.path.basename(path)}"
            )
        body = f"{MARK} from {shown}" + (f" and {os.path.basename(path)}" if path else "") + ".\n"
        body += "routes = [" + ", ".join(json.dumps(r) for r in routes) + "]\n"
        if text:
            body += "\n" + text
        print(f"build: routes {' '.join(routes)} (from {shown})", file=sys.stderr)
    elif text is not None:
        body = f"{MARK} from {os.path.basename(path)}.\n" + text
        print(f"build: served on the routes of {os.path.basename(path)}", file=sys.stderr)
    else:
        body = None
        print(f"build: served on /{args.name} (the default route: {shown} routes no paths)", file=sys.stderr)
    if body is None:
        if os.path.isfile(out):
            with open(out, encoding="utf-8") as f:
                mine = f.read().startswith(MARK)
            if mine:
                os.remove(out)
        return
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
