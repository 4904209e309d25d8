package dev.cfship.oracle;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code --name value} command-line options: the required ones must be given, others are optional. */
final class Args {
    static Map<String, String> parse(String[] args, List<String> required) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + args[i]);
            }
            out.put(args[i].substring(2), args[++i]);
        }
        for (String r : required) {
            if (!out.containsKey(r)) {
                throw new IllegalArgumentException("missing --" + r + " (required: " + required + ")");
            }
        }
        return out;
    }
}
