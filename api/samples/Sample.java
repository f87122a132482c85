// modemd sample (Java 11+, JDK only): send an SMS, verify an IPN signature.
//
//   MODEMD_APIKEY=mdk_... java Sample.java send +393331234567 "Hello"
//   java Sample.java verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
//                                              WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
// Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Sample {
    static final long TOLERANCE_S = 300; // Standard Webhooks: refuse signatures older or newer than 5 min
    static final Pattern ACCEPTED = Pattern.compile("\"status_code\":\\s*\"[12]\"");

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

    /** POST /api/v1/send; print the answer; true when accepted (status_code 1 or 2). */
    static boolean send(String to, String msg) throws Exception {
        String payload = "{\"pin\": " + json(env("MODEMD_PIN", "YOUR_PIN")) + ", \"to\": " + json(to)
                + ", \"msg\": " + json(msg) + "}";
        String url = env("MODEMD_URL", "http://127.0.0.1:8080").replaceAll("/$", "") + "/api/v1/send";
        HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + env("MODEMD_APIKEY", ""))
                .POST(HttpRequest.BodyPublishers.ofString(payload))
                .build();
        String answer = HttpClient.newHttpClient()
                .send(request, HttpResponse.BodyHandlers.ofString()).body(); // errors are JSON too
        System.out.println(answer);
        return ACCEPTED.matcher(answer).find();
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
        } else if (mode.equals("verify")) {
            boolean ok = verifyIpn(env("MODEMD_IPN_SECRET", ""), env("WEBHOOK_ID", ""),
                    env("WEBHOOK_TIMESTAMP", "0"), env("WEBHOOK_SIGNATURE", ""), System.in.readAllBytes());
            System.out.println(ok ? "valid" : "invalid");
            System.exit(ok ? 0 : 1);
        } else {
            System.err.println("usage: java Sample.java [send [TO [MSG]] | verify]");
            System.exit(2);
        }
    }
}
