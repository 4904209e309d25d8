import java.io.BufferedReader;
import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.TemporalAccessor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.elasticsearch.common.time.DateFormatter;
import org.elasticsearch.common.time.DateFormatters;

/**
 * Elasticsearch's `date` processor as the Cloudflare pipelines configure it (timezone UTC, locale
 * ROOT, output `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`), built from Elasticsearch's own DateFormatter /
 * DateFormatters classes (the server jar on the classpath) with the few lines of its ingest-common
 * DateFormat/DateProcessor: formats tried in order, the first success wins; when none accepts the
 * text the processor fails and `_ingest.on_failure_message` is the root cause of the exception chain
 * (the first format's exception; the later ones are only suppressed).
 * stdin: `["<format>|<format>…", "<text>"]` per line. stdout: `{"ok":"<formatted>"}` or
 * `{"err":"<root cause message>"}`.
 */
public final class DateOracle {
    static final ZoneId UTC = ZoneOffset.UTC;
    static final DateFormatter OUTPUT = DateFormatter.forPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");

    public static void main(String[] args) throws Exception {
        BufferedReader in = OracleJson.stdin();
        PrintStream out = OracleJson.stdout();
        String line;
        while ((line = in.readLine()) != null) {
            List<String> a = OracleJson.strings(line);
            out.println(OracleJson.object(run(a.get(0).split("\\|"), a.get(1))));
        }
        out.flush();
    }

    static Function<String, ZonedDateTime> parser(String format) {
        switch (format) {
            case "ISO8601":
                return text -> {
                    TemporalAccessor acc = DateFormatter.forPattern("iso8601").parse(text);
                    return DateFormatters.from(acc, Locale.ROOT, UTC).withZoneSameInstant(UTC);
                };
            case "UNIX_MS":
                return text -> Instant.ofEpochMilli(Long.parseLong(text)).atZone(UTC);
            default:
                DateFormatter f = DateFormatter.forPattern(format).withLocale(Locale.ROOT);
                return text -> DateFormatters.from(f.parse(text), Locale.ROOT, UTC).withZoneSameInstant(UTC);
        }
    }

    static Map<String, Object> run(String[] formats, String text) {
        Map<String, Object> r = new LinkedHashMap<>();
        Exception first = null;
        for (String format : formats) {
            try {
                ZonedDateTime t = parser(format).apply(text);
                r.put("ok", OUTPUT.format(t));
                return r;
            } catch (Exception e) {
                if (first == null) first = e;
            }
        }
        Throwable root = first;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        r.put("err", String.valueOf(root.getMessage()));
        return r;
    }
}
