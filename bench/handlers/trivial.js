// The smallest task: answers at once.
export default function trivial() {
  return { ok: true };
}
