"""The WebSocket gateway: connections, the node hub, and the /ws endpoint."""
