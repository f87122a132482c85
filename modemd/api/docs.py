"""The contract served: ``/openapi.json``, a readable ``/docs`` page, and the CODE button
(``GET /api/v1/samples/{lang}``: a sample program with the caller's pin filled in).

The files live in the repository's top-level ``api/`` folder; ``modemd/api/spec`` is a symlink
to it, so an editable install reads them in place and a wheel ships copies as package data.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from modemd.api.answers import answer
from modemd.model import ApiKey

SPEC_DIR = Path(__file__).parent / "spec"
SAMPLE_FILES = {
    "curl": "sample.sh",
    "python": "sample.py",
    "php": "sample.php",
    "javascript": "sample.js",
    "go": "sample.go",
    "java": "Sample.java",
}
PIN_PLACEHOLDER = "YOUR_PIN"
_SAFE_PIN = re.compile(r"^[A-Za-z0-9_.:+-]{1,64}$")  # safe inside a string literal of any sample

KeyOf = Callable[[web.Request], Awaitable[ApiKey | web.Response]]


@functools.cache
def load_spec() -> dict[str, Any]:
    """``api/openapi.yaml`` as a dict (read once; PyYAML is imported then, not at start-up)."""
    import yaml

    spec: dict[str, Any] = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text("utf-8"))
    return spec


def sample_source(lang: str, pin: str) -> str:
    """The sample for ``lang`` with ``pin`` as its default pin (placeholder kept if unsafe)."""
    text = (SPEC_DIR / "samples" / SAMPLE_FILES[lang]).read_text("utf-8")
    return text.replace(PIN_PLACEHOLDER, pin) if _SAFE_PIN.match(pin) else text


def _cell(text: Any) -> str:
    code = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))
    return code.replace("\n\n", "<p>")


def _operation_html(method: str, path: str, op: dict[str, Any]) -> list[str]:
    out = [f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>"]
    out.append(f"<p><b>{_cell(op.get('summary', ''))}</b></p>")
    if "description" in op:
        out.append(f"<p>{_cell(op['description'])}</p>")
    params = op.get("parameters", [])
    names = [p.get("name", p.get("$ref", "").rsplit("/", 1)[-1]) for p in params]
    if names:
        out.append("<p>Parameters: " + ", ".join(f"<code>{_cell(n)}</code>" for n in names))
    body = op.get("requestBody", {}).get("content", {})
    if body:
        out.append("<p>Body: " + ", ".join(f"<code>{_cell(t)}</code>" for t in body))
    out.append("<ul>")
    for status, response in op.get("responses", {}).items():
        ref = response.get("$ref", "")
        text = response.get("description") or ref.rsplit("/", 1)[-1]
        out.append(f"<li><code>{_cell(status)}</code> {_cell(text)}</li>")
    out.append("</ul>")
    return out


def render_docs(spec: dict[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external assets) describing ``spec``."""
    info = spec["info"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_cell(info['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3rem}"
        "code{background:#eee}</style></head><body>",
        f"<h1>{_cell(info['title'])} <small>{_cell(info['version'])}</small></h1>",
        f"<p>{_cell(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
        "<h2>Status codes</h2><table><tr><th>status_code</th><th>status</th><th>HTTP</th>"
        "<th>when</th></tr>",
    ]
    for row in spec["x-status-codes"]:
        cells = (row["status_code"], row["status"], row["http"], row["when"])
        out.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>")
    out.append("</table><h2>Routes</h2>")
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.extend(_operation_html(method, path, op))
    out.append("<h2>IPN (webhooks)</h2>")
    for name, methods in spec.get("webhooks", {}).items():
        for method, op in methods.items():
            out.extend(_operation_html(method, f"{name} (your URL)", op))
    langs = ", ".join(f"<code>{lang}</code>" for lang in SAMPLE_FILES)
    out.append(f"<h2>Samples</h2><p>GET <code>/api/v1/samples/{{lang}}</code>: {langs}.</p>")
    out.append("</body></html>")
    return "\n".join(out)


ASSETS = Path(__file__).parent / "docs_assets"  # swagger-ui/ is swagger-ui-dist, unmodified
# Swagger UI sets style attributes; everything else comes from the daemon itself.
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


def _toc(spec: dict[str, Any]) -> list[str]:
    """Links to every operation, by tag in the spec's order (Swagger UI's deep links)."""
    by_tag: dict[str, list[tuple[str, str, str]]] = {t["name"]: [] for t in spec.get("tags", [])}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["default"])[0]
            by_tag.setdefault(tag, []).append((method.upper(), path, op["operationId"]))
    out = ["<nav id='toc' aria-label='Contents'><details open><summary>Contents</summary><ul>"]
    for tag, ops in by_tag.items():
        for method, path, op_id in ops:
            href = f"#/{html.escape(tag)}/{html.escape(op_id)}"
            out.append(
                f"<li><a href='{href}' data-operation='{html.escape(op_id)}'>"
                f"<code>{method} {html.escape(path)}</code></a> ({html.escape(tag)})</li>"
            )
    out.append("</ul></details></nav>")
    return out


def render_page(spec: dict[str, Any]) -> str:
    """/docs: Swagger UI (request bodies, examples, a try-it form) under a table of contents;
    the plain reference (``render_docs``) for browsers without scripts."""
    plain = render_docs(spec)
    body = plain[plain.index("<body>") + len("<body>") : plain.rindex("</body>")]
    title = _cell(spec["info"]["title"])
    return "\n".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{title}</title>",
            "<link rel='stylesheet' href='/docs/assets/swagger-ui/swagger-ui.css'>",
            "<link rel='stylesheet' href='/docs/assets/docs.css'></head><body>",
            f"<header class='docs'><strong>{title}</strong> · "
            "<a href='/openapi.json'>/openapi.json</a> · <a href='/console/'>console</a></header>",
            *_toc(spec),
            "<div id='swagger-ui'></div>",
            f"<noscript>{body}</noscript>",
            "<script src='/docs/assets/swagger-ui/swagger-ui-bundle.js'></script>",
            "<script src='/docs/assets/docs.js'></script>",
            "</body></html>",
        ]
    )


def add_routes(app: web.Application, key_of: KeyOf) -> None:
    """Register the docs routes; ``key_of`` authenticates like the other GET routes."""

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(load_spec())

    async def docs_page(request: web.Request) -> web.Response:
        return web.Response(
            text=render_page(load_spec()), content_type="text/html", headers=DOCS_HEADERS
        )

    async def sample(request: web.Request) -> web.Response:
        """GET /api/v1/samples/{lang}: the CODE button."""
        key = await key_of(request)
        if isinstance(key, web.Response):
            return key
        lang = request.match_info["lang"]
        if lang not in SAMPLE_FILES:
            message = f"no sample for {lang[:32]!r}; try one of {', '.join(SAMPLE_FILES)}"
            return answer(404, message)
        return web.Response(
            text=sample_source(lang, key.pin),
            content_type="text/plain",
            headers={"Content-Disposition": f'inline; filename="{SAMPLE_FILES[lang]}"'},
        )

    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
    app.router.add_static("/docs/assets", ASSETS)
    app.router.add_get("/api/v1/samples/{lang}", sample)
