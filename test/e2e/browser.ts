// Debian's Chromium, launched the one way the end-to-end tests need it: headless on a machine with no network
// beyond loopback (without the background-networking flags Chromium keeps dialling out and being refused).
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The Chromium binary, or undefined when the machine has none (the tests that need it skip and say so). */
export const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) =>
  existsSync(p),
);

export function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error('no chromium binary (/usr/bin/chromium): install Debian chromium');
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
