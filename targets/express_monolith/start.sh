#!/bin/sh
# Start the Express monolith (the topology's command; run from the project root by both backends).
# A missing Node.js or missing npm dependencies stop it at once with the fix, which the backend
# shows in its error (the service's last log lines); otherwise node replaces this shell (exec).
case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac  # no dirname: PATH may lack it
if ! command -v node >/dev/null 2>&1; then
    echo "express-monolith: Node.js (node) is not on PATH; fix: install Node.js 20 or newer" \
         "(e.g. apt-get install nodejs npm), then npm ci --prefix targets/express_monolith" >&2
    exit 2
fi
if [ ! -d "$here/node_modules/express" ]; then
    echo "express-monolith: its npm dependencies are not installed ($here/node_modules);" \
         "fix: npm ci --prefix targets/express_monolith (or make install)" >&2
    exit 2
fi
exec node "$here/server.js"
