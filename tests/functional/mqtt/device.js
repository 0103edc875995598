// An MQTT device for the MQTT transport's tests: the npm `mqtt` client (MQTT 3.1.1, persistent
// session, QoS 1), driven by the Python tests. Prints one JSON line per event on stdout:
//   {"event":"connect","session_present":bool}   {"event":"suback","topic":T,"qos":Q}  (128: refused)
//   {"event":"message","topic":T,"payload":"..."}  {"event":"close"}  {"event":"error","message":M}
// and ends its session cleanly (DISCONNECT) when stdin closes.
//   node device.js URL USERNAME PASSWORD CLIENT_ID TOPIC...
const mqtt = require("mqtt");

const [url, username, password, clientId, ...topics] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const client = mqtt.connect(url, { username, password, clientId, clean: false, protocolVersion: 4, reconnectPeriod: 200, connectTimeout: 5000 });
let subscribed = false;
client.on("connect", (ack) => {
  say({ event: "connect", session_present: Boolean(ack.sessionPresent) });
  if (subscribed) return;  // the persistent session keeps the subscriptions
  subscribed = true;
  for (const topic of topics) {
    client.subscribe(topic, { qos: 1 }, (err, granted) => {
      // mqtt.js reports a refused subscription (SUBACK 0x80) as an error, with the requested QoS.
      if (err) return say({ event: "suback", topic, qos: 128, error: String(err.message || err) });
      for (const g of granted) say({ event: "suback", topic: g.topic, qos: g.qos });
    });
  }
});
client.on("message", (topic, payload) => say({ event: "message", topic, payload: payload.toString() }));
client.on("close", () => say({ event: "close" }));
client.on("error", (e) => say({ event: "error", message: String(e.message || e) }));
process.stdin.on("end", () => client.end(false, {}, () => process.exit(0)));
process.stdin.resume();
