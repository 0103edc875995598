#!/usr/bin/env node
// The peer for the fan-out benchmark: a minimal broadcast server on Node's `ws`. POST /broadcast
// sends the request body to every connected socket (serialized once, as Sluice does).
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2] || 0);
const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/broadcast") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const frame = Buffer.from(body);  // encoded once, like Sluice's shared frames
      for (const client of wss.clients) client.send(frame, { binary: false });
      res.writeHead(202, { "content-type": "application/json" }).end("{}");
    });
    return;
  }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
