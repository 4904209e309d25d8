import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The tiny JSON the oracles speak: input lines are JSON arrays of strings, outputs JSON objects. */
final class OracleJson {
    private OracleJson() {}

    static BufferedReader stdin() {
        return new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    }

    static PrintStream stdout() {
        return new PrintStream(System.out, false, StandardCharsets.UTF_8);
    }

    /** Parses a JSON array of strings (`["a","b"]`). */
    static List<String> strings(String line) {
        List<String> out = new ArrayList<>();
        int i = skip(line, 0);
        if (line.charAt(i) != '[') throw new IllegalArgumentException("expected [");
        i = skip(line, i + 1);
        if (line.charAt(i) == ']') return out;
        while (true) {
            StringBuilder sb = new StringBuilder();
            i = readString(line, i, sb);
            out.add(sb.toString());
            i = skip(line, i);
            char c = line.charAt(i);
            if (c == ']') return out;
            if (c != ',') throw new IllegalArgumentException("expected ,");
            i = skip(line, i + 1);
        }
    }

    private static int skip(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        return i;
    }

    private static int readString(String s, int i, StringBuilder sb) {
        if (s.charAt(i) != '"') throw new IllegalArgumentException("expected \"");
        i++;
        while (true) {
            char c = s.charAt(i++);
            if (c == '"') return i;
            if (c != '\\') { sb.append(c); continue; }
            char e = s.charAt(i++);
            switch (e) {
                case 'n': sb.append('\n'); break;
                case 't': sb.append('\t'); break;
                case 'r': sb.append('\r'); break;
                case 'b': sb.append('\b'); break;
                case 'f': sb.append('\f'); break;
                case 'u': sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                default: sb.append(e);
            }
        }
    }

    static String quote(String s) {
        if (s == null) return "null";
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                default:
                    // Lone surrogates and controls as \\u escapes so every line is valid UTF-8 JSON.
                    if (c < 0x20 || Character.isSurrogate(c) && !validPair(s, i)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else if (Character.isHighSurrogate(c)) {
                        sb.append(c).append(s.charAt(++i));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"').toString();
    }

    private static boolean validPair(String s, int i) {
        char c = s.charAt(i);
        return Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }

    /** Writes a flat object; values are String, Integer/Long, Boolean, null or nested Map. */
    static String object(Map<String, ?> m) {
        StringBuilder sb = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, ?> e : m.entrySet()) {
            if (!first) sb.append(',');
            first = false;
            sb.append(quote(e.getKey())).append(':');
            Object v = e.getValue();
            if (v == null) sb.append("null");
            else if (v instanceof String) sb.append(quote((String) v));
            else if (v instanceof Map) {
                @SuppressWarnings("unchecked")
                Map<String, ?> inner = (Map<String, ?>) v;
                sb.append(object(inner));
            } else sb.append(v);
        }
        return sb.append('}').toString();
    }
}
