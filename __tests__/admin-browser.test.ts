/**
 * The demo's "Your devices" page and the admin page, used as a person would: a real headless
 * Chromium (see helpers/browser.ts), one browser context per device, the demo started as
 * `npm run demo` starts it, on a private redis-server. A laptop at 1280 px and a phone at 390 px.
 * Each test saves screenshots under test-results/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createClient } from "redis";
import { RedisStore } from "../lib/index";
import { type Demo, launchChromium, screenshotPath, startDemo } from "./helpers/browser";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

jest.setTimeout(60_000);

const WINDOWS_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const IPHONE_SAFARI =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1";
const MAC_FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:140.0) Gecko/20100101 Firefox/140.0";

let browser: Browser;
let redis: RedisServer;
let demo: Demo;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  redis = await startRedis();
  demo = await startDemo(redis.url);
});

afterAll(async () => {
  await Promise.all(contexts.map((context) => context.close()));
  await browser?.close();
  await demo?.stop();
  await redis?.stop();
  if (redis) removeDir(redis);
});

/** A device: a laptop (1280 px) or a phone (390 px, touch), with its own cookies and User-Agent. */
async function device(kind: "laptop" | "phone", userAgent: string): Promise<Page> {
  const context = await browser.newContext(
    kind === "laptop"
      ? { viewport: { width: 1280, height: 800 }, userAgent }
      : { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent },
  );
  contexts.push(context);
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  // Every script error and CSP violation the page reports; each test expects none.
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${message.text()} (${message.location().url})`);
  });
  (page as Page & { problems: string[] }).problems = problems;
  return page;
}

const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems;

/** Signs in through the demo's form, as a person types it. */
async function signIn(page: Page, username: string): Promise<void> {
  await page.goto(demo.url);
  await page.getByLabel("Username").fill(username);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
}

/** Every element matching `selector`: visible, and inside the viewport from left to right; the page does not scroll sideways. */
async function expectWithinViewport(page: Page, selector: string): Promise<void> {
  const width = page.viewportSize()?.width as number;
  const boxes = await page.locator(selector).evaluateAll((nodes) =>
    nodes.map((node) => {
      const box = node.getBoundingClientRect();
      return { text: node.textContent?.trim(), left: Math.floor(box.left), right: Math.ceil(box.right), height: box.height };
    }),
  );
  expect(boxes.length).toBeGreaterThan(0);
  for (const box of boxes)
    expect({ ...box, inside: box.left >= 0 && box.right <= width && box.height > 0 }).toMatchObject({ inside: true });
  const scrollWidth = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number);
  expect(scrollWidth).toBeLessThanOrEqual(width);
}

/** The devices listed on the demo's page, in order: name, and whether it is marked as this device. */
async function listedDevices(page: Page) {
  return page.locator("li.device").evaluateAll((items) =>
    items.map((item) => ({
      name: item.querySelector(".name")?.firstChild?.textContent?.trim(),
      thisDevice: item.querySelector(".badge")?.textContent === "This device",
      signOut: item.querySelector("button") !== null,
    })),
  );
}

describe("the demo's Your devices page", () => {
  test("two devices of one user: both named, this device first and marked, at 1280 px and at 390 px", async () => {
    const laptop = await device("laptop", WINDOWS_CHROME);
    const phone = await device("phone", IPHONE_SAFARI);
    await signIn(laptop, "alice");
    await signIn(phone, "alice");

    await laptop.getByRole("link", { name: "Your devices" }).click();
    await laptop.getByText("Signed in as alice on 2 devices").waitFor();
    expect(await listedDevices(laptop)).toEqual([
      { name: "Chrome on Windows", thisDevice: true, signOut: false },
      { name: "Safari on iPhone", thisDevice: false, signOut: true },
    ]);
    const when = await laptop.locator("li.device .when").allTextContents();
    expect(when[0]).toMatch(/^Signed in \d{1,2} \w{3} \d{4}, \d{2}:\d{2} · Active now$/);
    expect(when[1]).toMatch(/^Signed in \d{1,2} \w{3} \d{4}, \d{2}:\d{2} · Last active (just now|\d[\w ]* ago)$/);
    await laptop.screenshot({ path: screenshotPath("demo-devices-1280.png"), fullPage: true });

    await phone.goto(`${demo.url}/devices`);
    expect(await listedDevices(phone)).toEqual([
      { name: "Safari on iPhone", thisDevice: true, signOut: false },
      { name: "Chrome on Windows", thisDevice: false, signOut: true },
    ]);
    await expectWithinViewport(phone, "li.device button, form.others button, li.device .name");
    await phone.screenshot({ path: screenshotPath("demo-devices-390.png"), fullPage: true });
    expect([...problemsOf(laptop), ...problemsOf(phone)]).toEqual([]);
  });

  test("signing the laptop out from the phone: the laptop is told it was signed out from another device", async () => {
    const laptop = await device("laptop", WINDOWS_CHROME);
    const phone = await device("phone", IPHONE_SAFARI);
    await signIn(laptop, "bruno");
    await signIn(phone, "bruno");

    await phone.goto(`${demo.url}/devices`);
    await phone.locator("li.device", { hasText: "Chrome on Windows" }).getByRole("button", { name: "Sign out" }).click();
    await phone.getByText("That device is signed out.").waitFor();
    expect(await listedDevices(phone)).toEqual([{ name: "Safari on iPhone", thisDevice: true, signOut: false }]);
    await phone.screenshot({ path: screenshotPath("demo-signed-out-other-390.png"), fullPage: true });

    await laptop.reload();
    await laptop.getByText(/^You were signed out from another device (just now|\d[\w ]* ago)\.$/).waitFor();
    await expect(laptop.getByLabel("Username").isVisible()).resolves.toBe(true);
    await laptop.screenshot({ path: screenshotPath("demo-signed-out-from-phone-1280.png"), fullPage: true });
    expect([...problemsOf(laptop), ...problemsOf(phone)]).toEqual([]);
  });
});

describe("the admin page", () => {
  test("the admin finds a user, sees their devices, signs one out; that device is told an administrator did", async () => {
    const laptop = await device("laptop", WINDOWS_CHROME);
    const phone = await device("phone", IPHONE_SAFARI);
    const admin = await device("laptop", MAC_FIREFOX);
    await signIn(laptop, "carla");
    await signIn(phone, "carla");
    await signIn(admin, "admin");

    await admin.getByRole("link", { name: "Admin: everyone's sessions" }).click();
    await admin.getByLabel("User id").fill("carla");
    await admin.getByRole("button", { name: "Find" }).click();
    await admin.getByText("carla · 2 sessions").waitFor();
    expect(await admin.locator("#devices .name").allTextContents()).toEqual(["Safari on iPhone", "Chrome on Windows"]);
    expect(await admin.locator("#devices .agent").allTextContents()).toEqual([IPHONE_SAFARI, WINDOWS_CHROME]);
    await admin.screenshot({ path: screenshotPath("admin-user-1280.png"), fullPage: true });

    await admin.locator("#devices li", { hasText: "Safari on iPhone" }).getByRole("button", { name: "Sign out" }).click();
    await admin.getByText("Signed out one session of carla.").waitFor();
    await admin.getByText("carla · 1 session").waitFor();
    expect(await admin.locator("#devices .name").allTextContents()).toEqual(["Chrome on Windows"]);
    await admin.screenshot({ path: screenshotPath("admin-signed-out-one-1280.png"), fullPage: true });

    await phone.reload();
    await phone.getByText(/^An administrator signed you out (just now|\d[\w ]* ago)\.$/).waitFor();
    await phone.screenshot({ path: screenshotPath("demo-signed-out-by-admin-390.png"), fullPage: true });

    // Everywhere, with a reason the admin types: the laptop hears it.
    await admin.getByLabel("Reason").fill("password reset");
    await admin.getByRole("button", { name: "Sign out everywhere" }).click();
    await admin.getByText("Signed out 1 session of carla.").waitFor();
    await admin.getByText("No live sessions.").waitFor();
    await laptop.reload();
    await laptop.getByText(/^An administrator signed you out \(password reset\) (just now|\d[\w ]* ago)\.$/).waitFor();
    expect([...problemsOf(laptop), ...problemsOf(phone), ...problemsOf(admin)]).toEqual([]);
  });

  test("on a phone at 390 px: the actions stay on screen; a link names the user to open", async () => {
    const target = await device("laptop", WINDOWS_CHROME);
    await signIn(target, "dora");
    const admin = await device("phone", IPHONE_SAFARI);
    await signIn(admin, "admin");
    await admin.goto(`${demo.url}/admin/sessions#user=dora`);
    await admin.getByText("dora · 1 session").waitFor();
    // The active users (admin, dora, and those of earlier tests) are buttons that open a user.
    await admin.locator("#active-users button", { hasText: "dora" }).waitFor();
    await expectWithinViewport(admin, "#devices button, #sign-out-all, #find button, #active-users button");
    await admin.screenshot({ path: screenshotPath("admin-390.png"), fullPage: true });
    expect(problemsOf(admin)).toEqual([]);
  });

  test("a user id, a session id and a User-Agent holding markup are shown as text, never run", async () => {
    const hostileUser = '<script>window.__pwned = "user"</script>';
    const hostileAgent = `Mozilla/5.0 <img src=x onerror="window.__pwned = 'agent'"> <script>window.__pwned = "agent"</script>`;
    const hostileSid = `<img src=x onerror="window.__pwned='sid'">`;
    // A session saved by the demo's store with an id no express-session would make, for that user.
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const store = new RedisStore({ client, prefix: "demo-sess:" });
      await store.set(hostileSid, { cookie: { originalMaxAge: 3_600_000 }, userId: hostileUser } as never);
    } finally {
      client.destroy();
    }
    const device1 = await device("laptop", hostileAgent);
    await signIn(device1, hostileUser);
    const admin = await device("laptop", MAC_FIREFOX);
    await signIn(admin, "admin");
    await admin.goto(`${demo.url}/admin/sessions`);
    await admin.getByLabel("User id").fill(hostileUser);
    await admin.getByRole("button", { name: "Find" }).click();
    await admin.getByText(`${hostileUser} · 2 sessions`).waitFor();

    expect(await admin.locator("#devices .agent").allTextContents()).toEqual([hostileAgent]);
    expect(await admin.locator("#devices .id").allTextContents()).toContain(`Session ${hostileSid}`);
    expect(await admin.locator("#devices img, #devices script, #user-title script").count()).toBe(0);
    expect(await admin.evaluate(() => (globalThis as { __pwned?: string }).__pwned)).toBeUndefined();
    // The active users list names them as text too.
    await admin.locator("#active-users button", { hasText: hostileUser }).waitFor();
    await admin.screenshot({ path: screenshotPath("admin-escaping-1280.png"), fullPage: true });
    expect(problemsOf(admin)).toEqual([]);

    // The demo's own page shows the device's name and keeps the User-Agent as text in a title.
    await device1.goto(`${demo.url}/devices`);
    expect(await device1.locator("li.device img, li.device script").count()).toBe(0);
    expect(await device1.evaluate(() => (globalThis as { __pwned?: string }).__pwned)).toBeUndefined();
  });

  test("a signed-in user who is not the admin is refused", async () => {
    const page = await device("laptop", WINDOWS_CHROME);
    await signIn(page, "eve");
    const response = await page.goto(`${demo.url}/admin/sessions`);
    expect(response?.status()).toBe(403);
    expect(await page.locator("body").textContent()).toContain('{"error":"not authorized"}');
  });
});
