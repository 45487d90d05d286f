/** The error a promise rejects with (the test fails if it resolves): lets a test assert on the error's class and text. */
export async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
