// Makes a valkey-server (and valkey-cli) available to the tests, without installing anything
// system-wide. In order: VALKEY_SERVER when set; valkey-server on PATH; the project's cache
// (.cache/valkey/, git-ignored); else Debian 12's valkey-tools 8 from bookworm-backports, fetched
// with apt-get against a temporary sources list and unpacked into the cache. valkey-tools holds the
// binaries; valkey-server is a symlink to valkey-check-rdb that the valkey-server package would
// make, so we make it. Libraries the binary needs and the machine lacks are fetched the same way and
// found through LD_LIBRARY_PATH.
//
// `node scripts/valkey.mjs` prints {"server","cli","libraryPath","source","version"} as JSON, or one
// line on stderr and exit code 1 when Valkey cannot be had. Imported, ensureValkey() does the same.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const CACHE = join(root, ".cache", "valkey");
const SUITE = "bookworm-backports";
const MIRROR = process.env.VALKEY_APT_MIRROR ?? configuredMirror();
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

export const VALKEY_HINT =
  "Valkey 8 was not found and could not be fetched: install it (Debian 12: apt-get install -t bookworm-backports valkey-server; macOS: brew install valkey), put valkey-server on PATH or in VALKEY_SERVER, or set SKIP_VALKEY=1 to leave the Valkey suites out";

class Unavailable extends Error {}

/** The Debian archive this machine's own apt sources name (deb822 or one-line format). */
function configuredMirror() {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const name of readdirSync("/etc/apt/sources.list.d")) files.push(join("/etc/apt/sources.list.d", name));
  } catch {
    // no sources.list.d
  }
  for (const file of files) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const uris = /^URIs:\s*(\S+)/.exec(line) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\b/.exec(line);
      if (uris?.[1] && !uris[1].includes("security")) return uris[1].replace(/\/$/, "");
    }
  }
  return undefined;
}

const run = (file, args, options = {}) => execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options });

function onPath(name) {
  try {
    return run("sh", ["-c", `command -v ${name}`]).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The server's own version line, or undefined when it does not start (a missing library). */
function versionOf(server, libraryPath) {
  try {
    const env = { ...process.env, LD_LIBRARY_PATH: [libraryPath, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter) };
    const line = run(server, ["--version"], { env }).trim();
    return /^Valkey server v=(\d+)/.test(line) ? line : undefined;
  } catch {
    return undefined;
  }
}

/** Folders of an unpacked tree that hold shared libraries (usr/lib/<multiarch>, lib/<multiarch>, ...). */
function libraryDirs(tree) {
  const dirs = [];
  for (const base of ["usr/lib", "lib"]) {
    const dir = join(tree, base);
    if (!existsSync(dir)) continue;
    dirs.push(dir);
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(join(dir, entry.name));
  }
  return dirs.join(delimiter);
}

function fromCache() {
  const tree = join(CACHE, "root");
  const server = join(tree, "usr", "bin", "valkey-server");
  if (!existsSync(server)) return undefined;
  const libraryPath = libraryDirs(tree);
  const version = versionOf(server, libraryPath);
  if (!version) return undefined;
  return { server, cli: join(tree, "usr", "bin", "valkey-cli"), libraryPath, source: "cache", version };
}

/** apt-get with its own sources list, package lists and cache: the system's apt state is never read or changed. */
function privateApt(work) {
  if (!MIRROR) throw new Unavailable("no Debian archive in this machine's apt sources (set VALKEY_APT_MIRROR)");
  const lists = join(work, "lists");
  const cache = join(work, "cache");
  mkdirSync(join(lists, "partial"), { recursive: true });
  mkdirSync(join(cache, "archives", "partial"), { recursive: true });
  const sources = join(work, "sources.list");
  // bookworm for the libraries, bookworm-backports for Valkey.
  writeFileSync(
    sources,
    [`deb [signed-by=${KEYRING}] ${MIRROR} bookworm main`, `deb [signed-by=${KEYRING}] ${MIRROR} ${SUITE} main`, ""].join("\n"),
  );
  const options = [
    "-o",
    `Dir::Etc::SourceList=${sources}`,
    "-o",
    "Dir::Etc::SourceParts=/dev/null",
    "-o",
    `Dir::State::Lists=${lists}`,
    "-o",
    `Dir::Cache=${cache}`,
    // Root would hand the download to the _apt user, who cannot write into our temporary folder.
    "-o",
    "APT::Sandbox::User=root",
    "-q",
  ];
  return {
    update: () => run("apt-get", [...options, "update"]),
    show: (pkg) => run("apt-cache", [...options, "show", pkg]),
    download: (pkg, into) => run("apt-get", [...options, "download", pkg], { cwd: into }),
  };
}

function installed(pkg) {
  try {
    return run("dpkg-query", ["-W", "-f=$"+"{Status}", pkg]).includes("install ok installed");
  } catch {
    return false;
  }
}

function fetchValkey() {
  const release = existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "";
  if (!/^VERSION_CODENAME=bookworm$/m.test(release) || !onPath("apt-get") || !onPath("dpkg-deb")) throw new Unavailable(VALKEY_HINT);
  const work = mkdtempSync(join(tmpdir(), "rss-valkey-"));
  try {
    const apt = privateApt(work);
    const debs = join(work, "debs");
    mkdirSync(debs);
    try {
      apt.update();
      apt.download(`valkey-tools/${SUITE}`, debs);
    } catch (error) {
      throw new Unavailable(
        `${VALKEY_HINT} (apt-get: ${String(error.stderr ?? error.message)
          .trim()
          .split("\n")
          .pop()})`,
      );
    }
    // The libraries valkey-tools depends on that this machine lacks (a machine without Redis may lack
    // libjemalloc2 and liblzf1).
    const depends = /^Depends: (.*)$/m.exec(apt.show(`valkey-tools/${SUITE}`))?.[1] ?? "";
    const missing = depends
      .split(",")
      .map((dep) => dep.trim().split(/[\s:]/)[0])
      // Never libc: the C library must match the system's dynamic loader.
      .filter((pkg) => pkg?.startsWith("lib") && pkg !== "libc6" && !installed(pkg));
    for (const pkg of missing) apt.download(pkg, debs);

    const staging = join(work, "root");
    for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) run("dpkg-deb", ["-x", join(debs, deb), staging]);
    symlinkSync("valkey-check-rdb", join(staging, "usr", "bin", "valkey-server"));
    const server = join(staging, "usr", "bin", "valkey-server");
    const libraryPath = libraryDirs(staging);
    const unresolved = run("ldd", [server], { env: { ...process.env, LD_LIBRARY_PATH: libraryPath } })
      .split("\n")
      .filter((line) => line.includes("not found"));
    if (unresolved.length) throw new Unavailable(`${VALKEY_HINT} (missing libraries: ${unresolved.map((l) => l.trim()).join("; ")})`);
    if (!versionOf(server, libraryPath)) throw new Unavailable(`${VALKEY_HINT} (the fetched valkey-server does not start)`);

    // Into place in one step: a run interrupted half-way never leaves a cache that looks complete.
    mkdirSync(CACHE, { recursive: true });
    rmSync(join(CACHE, "root"), { recursive: true, force: true });
    renameSync(staging, join(CACHE, "root"));
    writeFileSync(join(CACHE, "README"), `Fetched by scripts/valkey.mjs from ${SUITE}: ${readdirSync(debs).join(", ")}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const cached = fromCache();
  if (!cached) throw new Unavailable(`${VALKEY_HINT} (the cache at ${CACHE} is unusable)`);
  return { ...cached, source: "apt" };
}

/** Where valkey-server is; fetches it into the cache when it is nowhere else. Throws one line when it cannot. */
export function ensureValkey({ fetch = true } = {}) {
  const explicit = process.env.VALKEY_SERVER;
  const found = explicit || onPath("valkey-server");
  if (found) {
    const version = versionOf(found, process.env.VALKEY_LD_LIBRARY_PATH ?? "");
    if (!version) throw new Unavailable(`${found} is not a working Valkey server. ${VALKEY_HINT}`);
    const cli = process.env.VALKEY_CLI || join(dirname(found), "valkey-cli");
    return {
      server: found,
      cli: existsSync(cli) ? cli : (onPath("valkey-cli") ?? "redis-cli"),
      libraryPath: process.env.VALKEY_LD_LIBRARY_PATH ?? "",
      source: explicit ? "VALKEY_SERVER" : "PATH",
      version,
    };
  }
  const cached = fromCache();
  if (cached) return cached;
  if (!fetch) throw new Unavailable(VALKEY_HINT);
  return fetchValkey();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(JSON.stringify(ensureValkey()));
  } catch (error) {
    console.error(error instanceof Unavailable ? error.message : `${VALKEY_HINT} (${error.message})`);
    process.exit(1);
  }
}
