// Compiled (not run) by the test suite: the published types describe the API the README shows.
import { connect, SluiceError, type Frame, type Session, type Subscription } from "../src/index.js";

async function example(): Promise<void> {
  const client = connect({ url: "http://127.0.0.1:8080", getToken: async () => "token", backoff: { initial: 100 } });
  await client.ready;
  const tasks: Subscription = await client.subscribe("task", { filter: { status: "open" } });
  const first: unknown[] = tasks.items;
  tasks.on("event", (frame: Frame) => {
    const seq: number = frame.seq;
    const op: string = frame.op;
    void seq, op;
  });
  tasks.on("snapshot", (items) => void items.length);
  client.on("resync_required", ({ seq, resume_from }) => void (seq + resume_from));
  const saved: Session = client.session();
  connect({ url: "http://127.0.0.1:8080", token: "t", session: saved }).close();
  try {
    await tasks.unsubscribe();
  } catch (e) {
    if (e instanceof SluiceError) void e.code;
  }
  void first;
  client.close();
}
void example;
