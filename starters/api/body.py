"""Request bodies read chunk by chunk and given up as soon as they pass a limit, so a huge body is never
buffered whole (the events route and the codec server)."""

from fastapi import Request


async def body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None once it (or its declared Content-Length) passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)
