#!/usr/bin/env node
// modemd sample (Node.js 18+, built-ins only): send an SMS, send a CSV file as a campaign,
// verify an IPN signature.
//
//   MODEMD_APIKEY=mdk_... node sample.js send +393331234567 "Hello"
//   MODEMD_APIKEY=mdk_... node sample.js bulk clients.csv "Hello {name}"   (columns to,name)
//   node sample.js verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
//                                            WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
// Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");

const URL_ = process.env.MODEMD_URL || "http://127.0.0.1:8080";
const PIN = process.env.MODEMD_PIN || "YOUR_PIN";
const TOLERANCE_S = 300; // Standard Webhooks: refuse signatures older or newer than 5 minutes

// POST to the API with the key; print the answer and return it parsed (errors are JSON too).
async function call(path, body, type = "application/json") {
  const response = await fetch(URL_.replace(/\/$/, "") + path, {
    method: "POST",
    headers: { "Content-Type": type, Authorization: "Bearer " + process.env.MODEMD_APIKEY },
    body,
  });
  const raw = await response.text();
  console.log(raw);
  return JSON.parse(raw);
}

// POST /api/v1/send; true when accepted (status_code 1 or 2).
async function send(to, msg) {
  const answer = await call("/api/v1/send", JSON.stringify({ pin: PIN, to, msg }));
  return answer.status_code === "1" || answer.status_code === "2";
}

// POST a CSV file as a campaign (the answer is its validation report), then start it.
async function bulk(file, template) {
  const query = new URLSearchParams({ pin: PIN, template });
  const draft = await call("/api/v1/campaigns?" + query, fs.readFileSync(file), "text/csv");
  if (draft.response !== "200") return false;
  const id = encodeURIComponent(draft.campaign.campaign_id);
  const started = await call(`/api/v1/campaigns/${id}/start`, "");
  return started.response === "200";
}

// True when body (a Buffer) is an IPN signed with secret (whsec_...) less than 5 min ago.
function verifyIpn(secret, msgId, timestamp, signature, body) {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_S) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${msgId}.${timestamp}.`)
    .update(body)
    .digest("base64");
  const want = Buffer.from(expected);
  return signature.split(" ").some((entry) => {
    const comma = entry.indexOf(",");
    const given = Buffer.from(entry.slice(comma + 1));
    return comma > 0 && entry.slice(0, comma) === "v1" && given.length === want.length &&
      crypto.timingSafeEqual(given, want);
  });
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function main(args) {
  const mode = args[0] || "send";
  if (mode === "send") {
    const to = args[1] || process.env.MODEMD_TO || "";
    const msg = args[2] || process.env.MODEMD_MSG || "Hello from modemd";
    return (await send(to, msg)) ? 0 : 1;
  }
  if (mode === "bulk" && args.length > 2) {
    return (await bulk(args[1], args[2])) ? 0 : 1;
  }
  if (mode === "verify") {
    const env = process.env;
    const ok = verifyIpn(env.MODEMD_IPN_SECRET, env.WEBHOOK_ID || "", env.WEBHOOK_TIMESTAMP || "0",
      env.WEBHOOK_SIGNATURE || "", await readStdin());
    console.log(ok ? "valid" : "invalid");
    return ok ? 0 : 1;
  }
  console.error("usage: node sample.js [send [TO [MSG]] | bulk FILE TEMPLATE | verify]");
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(1);
});
