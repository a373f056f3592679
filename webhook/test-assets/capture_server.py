"""Records the AdmissionReviews a real kube-apiserver sends, for the webhook's unit tests.

Usage: capture_server.py CERT KEY PORT OUTDIR. Serves HTTPS on 127.0.0.1:PORT, writes each
review to OUTDIR/<name>-<operation>.json (name: the object's name, else its generateName)
and answers allowed: true with no patch. Run by `capture_admission_reviews` in
tests/kube_apiserver.rs; nothing of the webhook's own code is involved.
"""
import http.server
import json
import os
import ssl
import sys

cert, key, port, outdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        review = json.loads(body)
        request = review["request"]
        meta = (request.get("object") or {}).get("metadata", {})
        name = request.get("name") or meta.get("generateName", "unnamed").rstrip("-")
        path = os.path.join(outdir, "%s-%s.json" % (name, request["operation"].lower()))
        with open(path, "w") as f:
            json.dump(review, f, indent=1, sort_keys=True)
            f.write("\n")
        answer = json.dumps({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": request["uid"], "allowed": True},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
