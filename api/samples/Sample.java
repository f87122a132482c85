// modemd sample (Java 11+, JDK only): send an SMS, send a CSV file as a campaign, verify an
// IPN signature.
//
//   MODEMD_APIKEY=mdk_... java Sample.java send +393331234567 "Hello"
//   MODEMD_APIKEY=mdk_... java Sample.java bulk clients.csv "Hello {name}"   (columns to,name)
//   java Sample.java verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
//                                              WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
// Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Sample {
    static final long TOLERANCE_S = 300; // Standard Webhooks: refuse signatures older or newer than 5 min
    static final Pattern ACCEPTED = Pattern.compile("\"status_code\":\\s*\"[12]\"");
    static final Pattern OK = Pattern.compile("\"response\":\\s*\"200\"");
    static final Pattern CAMPAIGN_ID = Pattern.compile("\"campaign_id\":\\s*\"(cmp_[0-9a-f]+)\"");

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    static String json(String text) { // a JSON string literal
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    /** POST to the API with the key; print the answer and return it (errors are JSON too). */
    static String call(String path, HttpRequest.BodyPublisher body, String type) throws Exception {
        String url = env("MODEMD_URL", "http://127.0.0.1:8080").replaceAll("/$", "") + path;
        HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(300)) // a large file is validated before the answer
                .header("Content-Type", type)
                .header("Authorization", "Bearer " + env("MODEMD_APIKEY", ""))
                .POST(body)
                .build();
        String answer = HttpClient.newHttpClient()
                .send(request, HttpResponse.BodyHandlers.ofString()).body();
        System.out.println(answer);
        return answer;
    }

    /** POST /api/v1/send; true when accepted (status_code 1 or 2). */
    static boolean send(String to, String msg) throws Exception {
        String payload = "{\"pin\": " + json(env("MODEMD_PIN", "YOUR_PIN")) + ", \"to\": " + json(to)
                + ", \"msg\": " + json(msg) + "}";
        String answer = call("/api/v1/send", HttpRequest.BodyPublishers.ofString(payload), "application/json");
        return ACCEPTED.matcher(answer).find();
    }

    /** POST a CSV file as a campaign (the answer is its validation report), then start it. */
    static boolean bulk(String file, String template) throws Exception {
        String query = "pin=" + URLEncoder.encode(env("MODEMD_PIN", "YOUR_PIN"), StandardCharsets.UTF_8)
                + "&template=" + URLEncoder.encode(template, StandardCharsets.UTF_8);
        String draft = call("/api/v1/campaigns?" + query, HttpRequest.BodyPublishers.ofFile(Path.of(file)),
                "text/csv");
        Matcher id = CAMPAIGN_ID.matcher(draft);
        if (!OK.matcher(draft).find() || !id.find()) return false;
        String started = call("/api/v1/campaigns/" + id.group(1) + "/start",
                HttpRequest.BodyPublishers.noBody(), "application/json");
        return OK.matcher(started).find();
    }

    /** True when body is an IPN signed with secret (whsec_...) less than 5 minutes ago. */
    static boolean verifyIpn(String secret, String id, String timestamp, String signature, byte[] body)
            throws Exception {
        long ts;
        try {
            ts = Long.parseLong(timestamp);
        } catch (NumberFormatException e) {
            return false;
        }
        if (Math.abs(System.currentTimeMillis() / 1000 - ts) > TOLERANCE_S) return false;
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(Base64.getDecoder().decode(secret.replaceFirst("^whsec_", "")), "HmacSHA256"));
        mac.update((id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
        byte[] expected = Base64.getEncoder().encode(mac.doFinal(body));
        for (String entry : signature.trim().split("\\s+")) {
            int comma = entry.indexOf(',');
            if (comma > 0 && entry.substring(0, comma).equals("v1") && MessageDigest.isEqual(
                    entry.substring(comma + 1).getBytes(StandardCharsets.US_ASCII), expected)) {
                return true;
            }
        }
        return false;
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "send";
        if (mode.equals("send")) {
            String to = args.length > 1 ? args[1] : env("MODEMD_TO", "");
            String msg = args.length > 2 ? args[2] : env("MODEMD_MSG", "Hello from modemd");
            System.exit(send(to, msg) ? 0 : 1);
        } else if (mode.equals("bulk") && args.length > 2) {
            System.exit(bulk(args[1], args[2]) ? 0 : 1);
        } else if (mode.equals("verify")) {
            boolean ok = verifyIpn(env("MODEMD_IPN_SECRET", ""), env("WEBHOOK_ID", ""),
                    env("WEBHOOK_TIMESTAMP", "0"), env("WEBHOOK_SIGNATURE", ""), System.in.readAllBytes());
            System.out.println(ok ? "valid" : "invalid");
            System.exit(ok ? 0 : 1);
        } else {
            System.err.println("usage: java Sample.java [send [TO [MSG]] | bulk FILE TEMPLATE | verify]");
            System.exit(2);
        }
    }
}
