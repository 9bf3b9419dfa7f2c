"""The Express monolith target (Node.js; see topology.py and server.js)."""
