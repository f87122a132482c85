<?php
// modemd sample (PHP 8, standard extensions only): send an SMS, verify an IPN signature.
//
//   MODEMD_APIKEY=mdk_... php sample.php send +393331234567 "Hello"
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

// POST /api/v1/send; print the answer; true when accepted (status_code 1 or 2).
function send(string $to, string $msg): bool
{
    $url = rtrim(env('MODEMD_URL', 'http://127.0.0.1:8080'), '/') . '/api/v1/send';
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/json\r\nAuthorization: Bearer " . env('MODEMD_APIKEY'),
        'content' => json_encode(['pin' => env('MODEMD_PIN', 'YOUR_PIN'), 'to' => $to, 'msg' => $msg]),
        'ignore_errors' => true, // 4xx answers carry a JSON body too
        'timeout' => 30,
    ]]);
    $raw = file_get_contents($url, false, $context);
    echo $raw, "\n";
    $answer = json_decode((string) $raw, true);
    return is_array($answer) && in_array($answer['status_code'] ?? '', ['1', '2'], true);
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
if ($mode === 'verify') {
    $ok = verify_ipn(env('MODEMD_IPN_SECRET'), env('WEBHOOK_ID'), env('WEBHOOK_TIMESTAMP', '0'),
        env('WEBHOOK_SIGNATURE'), file_get_contents('php://stdin'));
    echo $ok ? "valid\n" : "invalid\n";
    exit($ok ? 0 : 1);
}
fwrite(STDERR, "usage: php sample.php [send [TO [MSG]] | verify]\n");
exit(2);
