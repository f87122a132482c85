<?php
// modemd sample (PHP 8, standard extensions only): send an SMS, send a CSV file as a
// campaign, verify an IPN signature.
//
//   MODEMD_APIKEY=mdk_... php sample.php send +393331234567 "Hello"
//   MODEMD_APIKEY=mdk_... php sample.php bulk clients.csv "Hello {name}"   (columns to,name)
//   php sample.php verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
//                                            WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
// In a web IPN handler use file_get_contents('php://input') and $_SERVER['HTTP_WEBHOOK_ID'] etc.
// Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).

const TOLERANCE_S = 300; // Standard Webhooks: refuse signatures older or newer than 5 minutes

function env(string $name, string $default = ''): string
{
    $value = getenv($name);
    return $value === false || $value === '' ? $default : $value;
}

// POST to the API with the key; print the answer and return it decoded (4xx carry JSON too).
function call(string $path, string $body, string $type = 'application/json'): array
{
    $url = rtrim(env('MODEMD_URL', 'http://127.0.0.1:8080'), '/') . $path;
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: $type\r\nAuthorization: Bearer " . env('MODEMD_APIKEY'),
        'content' => $body,
        'ignore_errors' => true, // 4xx answers carry a JSON body too
        'timeout' => 300, // a large file is validated before the answer
    ]]);
    $raw = file_get_contents($url, false, $context);
    echo $raw, "\n";
    $answer = json_decode((string) $raw, true);
    return is_array($answer) ? $answer : [];
}

// POST /api/v1/send; true when accepted (status_code 1 or 2).
function send(string $to, string $msg): bool
{
    $answer = call('/api/v1/send', json_encode(['pin' => env('MODEMD_PIN', 'YOUR_PIN'), 'to' => $to, 'msg' => $msg]));
    return in_array($answer['status_code'] ?? '', ['1', '2'], true);
}

// POST a CSV file as a campaign (the answer is its validation report), then start it.
function bulk(string $file, string $template): bool
{
    $query = http_build_query(['pin' => env('MODEMD_PIN', 'YOUR_PIN'), 'template' => $template]);
    $csv = file_get_contents($file);
    if ($csv === false) {
        return false;
    }
    $draft = call("/api/v1/campaigns?$query", $csv, 'text/csv');
    $id = $draft['campaign']['campaign_id'] ?? null;
    if (($draft['response'] ?? '') !== '200' || !is_string($id)) {
        return false;
    }
    return (call('/api/v1/campaigns/' . rawurlencode($id) . '/start', '')['response'] ?? '') === '200';
}

// True when $body is an IPN signed with $secret (whsec_...) less than 5 minutes ago.
function verify_ipn(string $secret, string $id, string $timestamp, string $signature, string $body): bool
{
    if (!ctype_digit($timestamp) || abs(time() - (int) $timestamp) > TOLERANCE_S) {
        return false;
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret));
    $expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
    foreach (explode(' ', $signature) as $entry) {
        [$version, $value] = array_pad(explode(',', $entry, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $value)) {
            return true;
        }
    }
    return false;
}

$mode = $argv[1] ?? 'send';
if ($mode === 'send') {
    exit(send($argv[2] ?? env('MODEMD_TO'), $argv[3] ?? env('MODEMD_MSG', 'Hello from modemd')) ? 0 : 1);
}
if ($mode === 'bulk' && isset($argv[3])) {
    exit(bulk($argv[2], $argv[3]) ? 0 : 1);
}
if ($mode === 'verify') {
    $ok = verify_ipn(env('MODEMD_IPN_SECRET'), env('WEBHOOK_ID'), env('WEBHOOK_TIMESTAMP', '0'),
        env('WEBHOOK_SIGNATURE'), file_get_contents('php://stdin'));
    echo $ok ? "valid\n" : "invalid\n";
    exit($ok ? 0 : 1);
}
fwrite(STDERR, "usage: php sample.php [send [TO [MSG]] | bulk FILE TEMPLATE | verify]\n");
exit(2);
