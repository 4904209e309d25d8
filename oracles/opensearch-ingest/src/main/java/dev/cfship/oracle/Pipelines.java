package dev.cfship.oracle;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.List;
import java.util.Map;

import org.opensearch.common.xcontent.XContentFactory;
import org.opensearch.common.xcontent.XContentHelper;
import org.opensearch.common.xcontent.XContentType;
import org.opensearch.core.common.bytes.BytesArray;
import org.opensearch.core.xcontent.XContentBuilder;

/**
 * Elastic's cloudflare ingest pipelines (kept outside the repository, checked against the sha256 of
 * {@code cloudflare-pipelines.tsv} / {@code logpush-pipelines.tsv}), with the edits the
 * embedded OpenSearch node needs. Each edit must match exactly once, so a changed pipeline file
 * fails loudly instead of running unedited. Every edit is listed (with its reason) in
 * docs/oracles.md of the cfship repository.
 */
final class Pipelines {
    /** The file name Elasticsearch 8's user-agent regexes get in config/ingest-user-agent/. */
    static final String ES8_REGEX_FILE = "es8-regexes.yml";

    static final String LOGPULL = "logs-cloudflare.logpull-2.22.0";
    static final String LOGPULL_HTTP = "logs-cloudflare.logpull-2.22.0-http";
    static final String AUDIT = "logs-cloudflare.audit-2.22.0";

    /** A pipeline: its id and its definition as JSON. */
    record Pipeline(String id, String json) {}

    private record Edit(String why, String from, String to) {}

    /**
     * The Logpull and audit pipelines from {@code dir}; each file must have the sha256 the manifest
     * (tab-separated: file, pipeline id, upstream commit, upstream path, sha256) gives it.
     */
    static List<Pipeline> load(Path manifest, Path dir) throws IOException {
        for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\t");
            if (f.length != 5) {
                throw new IOException(manifest + ": expected 5 tab-separated columns: " + line);
            }
            String sha = sha256(Files.readAllBytes(dir.resolve(f[0])));
            if (!sha.equals(f[4])) {
                throw new IOException(dir.resolve(f[0]) + ": sha256 " + sha + ", the manifest says " + f[4]);
            }
        }
        List<Pipeline> out = new ArrayList<>();
        out.add(pipeline(LOGPULL, edit(dir.resolve("logpull-default.yml"), List.of(
            new Edit("Fleet renders the {{ IngestPipeline }} template into the installed pipeline's name",
                "name: '{{ IngestPipeline \"http\" }}'",
                "name: '" + LOGPULL_HTTP + "'")))));
        out.add(pipeline(LOGPULL_HTTP, edit(dir.resolve("logpull-http.yml"), List.of(
            new Edit("Elasticsearch 8's regexes.yml instead of OpenSearch's (renamed x86_64/aarch64 values)",
                "    field: json.ClientRequestUserAgent\n    target_field: user_agent\n",
                "    field: json.ClientRequestUserAgent\n    target_field: user_agent\n    regex_file: " + ES8_REGEX_FILE + "\n")))));
        out.add(pipeline(AUDIT, edit(dir.resolve("audit-default.yml"), List.of())));
        return out;
    }

    /**
     * Elastic's {@code cloudflare_logpush} pipelines listed in the manifest (tab-separated:
     * data stream, file, pipeline id, upstream commit, upstream path, sha256; {@code #} comments),
     * read from {@code dir}. Each file must have the manifest's sha256, so a wrong copy fails
     * loudly. Edits (docs/oracles.md): Fleet's {@code {{ IngestPipeline "x" }}} template becomes
     * the id of the data stream's pipeline {@code x} (its default pipeline's id + "-x"), every
     * {@code user_agent} gets Elasticsearch 8's regexes as {@code regex_file}, every
     * {@code foreach} becomes {@link ForEachProcessor}, plus the edits of {@link #pipeline}.
     */
    static List<Pipeline> loadLogpush(Path manifest, Path dir) throws IOException {
        record Row(String ds, String file, String id, String sha256) {}
        List<Row> rows = new ArrayList<>();
        Map<String, String> defaults = new java.util.HashMap<>();
        for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\t");
            if (f.length != 6) {
                throw new IOException(manifest + ": expected 6 tab-separated columns: " + line);
            }
            rows.add(new Row(f[0], f[1], f[2], f[5]));
            if (f[1].endsWith("-default.yml")) {
                defaults.put(f[0], f[2]);
            }
        }
        Pattern template = Pattern.compile("'?\\{\\{\\s*IngestPipeline\\s+\"([^\"]+)\"\\s*}}'?");
        List<Pipeline> out = new ArrayList<>();
        for (Row r : rows) {
            byte[] bytes = Files.readAllBytes(dir.resolve(r.file()));
            String sha = sha256(bytes);
            if (!sha.equals(r.sha256())) {
                throw new IOException(dir.resolve(r.file()) + ": sha256 " + sha + ", the manifest says " + r.sha256());
            }
            String text = new String(bytes, StandardCharsets.UTF_8);
            Matcher m = template.matcher(text);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                String base = defaults.get(r.ds());
                if (base == null) {
                    throw new IOException(r.file() + ": IngestPipeline template but no default pipeline for " + r.ds());
                }
                m.appendReplacement(sb, Matcher.quoteReplacement("'" + base + "-" + m.group(1) + "'"));
            }
            m.appendTail(sb);
            out.add(withSetsToLists(pipeline(r.id(), sb.toString()), true));
        }
        return out;
    }

    /**
     * Appends {@link SetsToListsProcessor} to the pipeline's processors and to its on_failure (when
     * it has one), so a {@code java.util.Set} a script left is written as Elasticsearch 8 writes it.
     */
    @SuppressWarnings("unchecked")
    private static Pipeline withSetsToLists(Pipeline p, boolean es8Scripts) throws IOException {
        Map<String, Object> def = XContentHelper.convertToMap(new BytesArray(p.json().getBytes(StandardCharsets.UTF_8)), true, XContentType.JSON).v2();
        int scripts = es8Scripts ? rename(def, "script", ScriptProcessor.TYPE) : 0;
        System.err.println("[oracle] pipeline " + p.id() + ": " + scripts + " script -> " + ScriptProcessor.TYPE
            + ", " + SetsToListsProcessor.TYPE + " appended");
        for (String list : List.of("processors", "on_failure")) {
            if (def.get(list) instanceof List<?> l) {
                ((List<Object>) l).add(Map.of(SetsToListsProcessor.TYPE, Map.of()));
            }
        }
        try (XContentBuilder b = XContentFactory.jsonBuilder()) {
            b.map(def);
            return new Pipeline(p.id(), b.toString());
        }
    }

    private static String sha256(byte[] bytes) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IOException(e);
        }
    }

    /**
     * Parses the YAML and renames each {@code set} that has {@code copy_from} (see
     * SetCopyFromProcessor) and each {@code fingerprint} (see FingerprintProcessor).
     */
    private static Pipeline pipeline(String id, String yaml) throws IOException {
        Map<String, Object> def = XContentHelper.convertToMap(new BytesArray(yaml.getBytes(StandardCharsets.UTF_8)), true, XContentType.YAML).v2();
        int renamed = renameSetCopyFrom(def);
        int fingerprints = rename(def, "fingerprint", FingerprintProcessor.TYPE);
        int foreach = rename(def, "foreach", ForEachProcessor.TYPE);
        int userAgents = addRegexFile(def);
        try (XContentBuilder b = XContentFactory.jsonBuilder()) {
            b.map(def);
            String json = b.toString();
            System.err.println("[oracle] pipeline " + id + ": " + renamed + " set processor(s) with copy_from -> " + SetCopyFromProcessor.TYPE
                + ", " + fingerprints + " fingerprint -> " + FingerprintProcessor.TYPE + ", " + foreach + " foreach -> "
                + ForEachProcessor.TYPE + ", " + userAgents + " user_agent given regex_file " + ES8_REGEX_FILE);
            return new Pipeline(id, json);
        }
    }

    @SuppressWarnings("unchecked")
    private static int renameSetCopyFrom(Object node) {
        int n = 0;
        if (node instanceof Map<?, ?> map) {
            Object set = map.get("set");
            if (map.size() == 1 && set instanceof Map<?, ?> body && body.containsKey("copy_from")) {
                Map<String, Object> m = (Map<String, Object>) map;
                m.remove("set");
                m.put(SetCopyFromProcessor.TYPE, body);
                n++;
            }
            for (Object v : map.values()) {
                n += renameSetCopyFrom(v);
            }
        } else if (node instanceof List<?> list) {
            for (Object v : list) {
                n += renameSetCopyFrom(v);
            }
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    private static int rename(Object node, String from, String to) {
        int n = 0;
        if (node instanceof Map<?, ?> map) {
            if (map.size() == 1 && map.get(from) instanceof Map<?, ?> body) {
                Map<String, Object> m = (Map<String, Object>) map;
                m.remove(from);
                m.put(to, body);
                n++;
            }
            for (Object v : map.values()) {
                n += rename(v, from, to);
            }
        } else if (node instanceof List<?> list) {
            for (Object v : list) {
                n += rename(v, from, to);
            }
        }
        return n;
    }

    /** Every {@code user_agent} without a {@code regex_file} gets Elasticsearch 8's regexes. */
    @SuppressWarnings("unchecked")
    private static int addRegexFile(Object node) {
        int n = 0;
        if (node instanceof Map<?, ?> map) {
            if (map.size() == 1 && map.get("user_agent") instanceof Map<?, ?> body && !body.containsKey("regex_file")) {
                ((Map<String, Object>) body).put("regex_file", ES8_REGEX_FILE);
                n++;
            }
            for (Object v : map.values()) {
                n += addRegexFile(v);
            }
        } else if (node instanceof List<?> list) {
            for (Object v : list) {
                n += addRegexFile(v);
            }
        }
        return n;
    }

    private static String edit(Path file, List<Edit> edits) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        for (Edit e : edits) {
            int first = text.indexOf(e.from());
            if (first < 0 || text.indexOf(e.from(), first + 1) >= 0) {
                throw new IOException(file + ": the edit \"" + e.why() + "\" must match exactly once: " + e.from());
            }
            text = text.replace(e.from(), e.to());
        }
        return text;
    }
}
