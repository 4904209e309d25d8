package dev.cfship.oracle;

import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.ConfigurationUtils;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * Elasticsearch 8's {@code fingerprint} processor. OpenSearch's processor of the same name hashes a
 * different byte sequence ({@code |field|type:value|}) and prefixes the method
 * ({@code SHA-1@2.16.0:...}), and its hasher is shared between threads; the {@code _id} Elastic's
 * pipelines compute needs Elasticsearch's: the salt, then for each field in sorted order, each
 * scalar reached depth-first (lists in order, maps by sorted key, each key as its own scalar)
 * as {@code 0x00} followed by its bytes (strings UTF-8; int/long/float/double little-endian;
 * true 1, false 2), digested (SHA-1 by default) and Base64-encoded. A fresh digest per document.
 * {@link Pipelines} renames every {@code fingerprint} to this processor; it reports its type as
 * {@code fingerprint}.
 */
final class FingerprintProcessor extends AbstractProcessor {
    static final String TYPE = "es8_fingerprint";

    private final List<String> fields;
    private final String targetField;
    private final String method;
    private final byte[] salt;
    private final boolean ignoreMissing;

    private FingerprintProcessor(String tag, String description, List<String> fields, String targetField,
                                 String method, byte[] salt, boolean ignoreMissing) {
        super(tag, description);
        this.fields = new ArrayList<>(fields);
        this.fields.sort(null);
        this.targetField = targetField;
        this.method = method;
        this.salt = salt;
        this.ignoreMissing = ignoreMissing;
    }

    @Override
    public IngestDocument execute(IngestDocument doc) throws NoSuchAlgorithmException {
        MessageDigest md = MessageDigest.getInstance(method);
        md.update(salt);
        Deque<Object> todo = new ArrayDeque<>();
        List<Object> roots = new ArrayList<>();
        for (String f : fields) {
            Object v = doc.getFieldValue(f, Object.class, true);
            if (v == null) {
                if (ignoreMissing) {
                    continue;
                }
                throw new IllegalArgumentException("missing field [" + f + "] when calculating fingerprint");
            }
            roots.add(v);
        }
        if (roots.isEmpty()) {
            return doc;
        }
        for (int i = roots.size() - 1; i >= 0; i--) {
            todo.push(roots.get(i));
        }
        while (!todo.isEmpty()) {
            Object v = todo.pop();
            if (v instanceof List<?> list) {
                for (int i = list.size() - 1; i >= 0; i--) {
                    todo.push(nullSafe(list.get(i)));
                }
            } else if (v instanceof Map<?, ?> map) {
                List<Map.Entry<String, Object>> entries = new ArrayList<>();
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    entries.add(Map.entry((String) e.getKey(), nullSafe(e.getValue())));
                }
                entries.sort(Map.Entry.comparingByKey());
                for (int i = entries.size() - 1; i >= 0; i--) {
                    todo.push(entries.get(i));
                }
            } else if (v instanceof Map.Entry<?, ?> e) {
                md.update((byte) 0);
                md.update(bytes(e.getKey()));
                todo.push(e.getValue());
            } else {
                md.update((byte) 0);
                md.update(bytes(v));
            }
        }
        doc.setFieldValue(targetField, Base64.getEncoder().encodeToString(md.digest()));
        return doc;
    }

    /** ArrayDeque takes no nulls; a null scalar hashes as no bytes. */
    private static final Object NULL = new Object();

    private static Object nullSafe(Object v) {
        return v == null ? NULL : v;
    }

    private static byte[] bytes(Object v) {
        if (v == NULL) {
            return new byte[0];
        }
        if (v instanceof String s) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
        ByteBuffer b;
        if (v instanceof Integer i) {
            b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(i);
        } else if (v instanceof Long l) {
            b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(l);
        } else if (v instanceof Float f) {
            b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(f);
        } else if (v instanceof Double d) {
            b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(d);
        } else if (v instanceof Boolean t) {
            return new byte[] { (byte) (t ? 1 : 2) };
        } else {
            throw new IllegalArgumentException("cannot convert object of type [" + v.getClass().getName() + "] to bytes");
        }
        return b.array();
    }

    @Override
    public String getType() {
        return "fingerprint";
    }

    static final class Factory implements Processor.Factory {
        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) throws NoSuchAlgorithmException {
            List<String> fields = ConfigurationUtils.readList("fingerprint", tag, config, "fields");
            String target = ConfigurationUtils.readStringProperty("fingerprint", tag, config, "target_field", "fingerprint");
            String salt = ConfigurationUtils.readStringProperty("fingerprint", tag, config, "salt", "");
            String method = ConfigurationUtils.readStringProperty("fingerprint", tag, config, "method", "SHA-1");
            MessageDigest.getInstance(method); // fail at creation on an unknown method
            boolean ignoreMissing = ConfigurationUtils.readBooleanProperty("fingerprint", tag, config, "ignore_missing", false);
            return new FingerprintProcessor(tag, description, fields, target, method,
                salt.isBlank() ? new byte[0] : salt.getBytes(StandardCharsets.UTF_8), ignoreMissing);
        }
    }
}
