#!/usr/bin/env node
// A webhook stage that forwards every message unchanged (204, empty body).
"use strict";
const http = require("http");
const port = Number(process.argv[2]);
http.createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(204); res.end(); });
}).listen(port, "127.0.0.1", () => console.log(`webhook on ${port}`));
