import java.io.BufferedReader;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The number conversions the pipelines rely on. stdin: `["decode"|"parseLong"|"double", text]`.
 * `decode`: `Long.decode(text)`; `convertLong`: the `convert` processor's type long (`Long.decode` for
 * `0x`/`-0x`, else `Long.parseLong`), with the exception message; `parseLong`:
 * `Long.parseLong(text)` (UNIX_MS, the Painless timestamp scripts); `double`:
 * `Double.toString(Double.parseDouble(text))` (how Elasticsearch renders a double in messages).
 * stdout: `{"ok":"<result>"}` or `{"err":"<message (decode) or exception class>"}`.
 */
public final class NumberOracle {
    public static void main(String[] args) throws Exception {
        BufferedReader in = OracleJson.stdin();
        PrintStream out = OracleJson.stdout();
        String line;
        while ((line = in.readLine()) != null) {
            List<String> a = OracleJson.strings(line);
            Map<String, Object> r = new LinkedHashMap<>();
            try {
                String v;
                switch (a.get(0)) {
                    case "decode": v = Long.toString(Long.decode(a.get(1))); break;
                    case "convertLong": {
                        // Elasticsearch's ConvertProcessor, type long.
                        String t = a.get(1);
                        v = Long.toString(t.startsWith("0x") || t.startsWith("-0x") ? Long.decode(t) : Long.parseLong(t));
                        break;
                    }
                    case "parseLong": v = Long.toString(Long.parseLong(a.get(1))); break;
                    default: v = Double.toString(Double.parseDouble(a.get(1)));
                }
                r.put("ok", v);
            } catch (RuntimeException e) {
                // decode: the message (what the convert processor reports); others: the class.
                r.put("err", a.get(0).equals("parseLong") || a.get(0).equals("double") ? e.getClass().getSimpleName() : e.getMessage());
            }
            out.println(OracleJson.object(r));
        }
        out.flush();
    }
}
