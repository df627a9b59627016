// The error a call throws, checked to be of the expected class (any other throw, or none, fails the test).
export function thrown<E extends Error>(cls: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof cls) return err;
    throw err;
  }
  throw new Error(`expected a ${cls.name}`);
}
