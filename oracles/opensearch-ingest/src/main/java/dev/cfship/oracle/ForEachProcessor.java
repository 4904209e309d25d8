package dev.cfship.oracle;

import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.ConfigurationUtils;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;
import org.opensearch.script.ScriptService;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Elasticsearch 8's {@code foreach} processor. OpenSearch's (the 7.10 fork's) loops over lists only;
 * Elasticsearch 8 also loops over the entries of a map ({@code _ingest._key} and
 * {@code _ingest._value}, both writable) and words its errors differently. {@link Pipelines} renames
 * every {@code foreach} to this processor; it reports its type as {@code foreach}.
 *
 * <p>Semantics (Elasticsearch 8's ForEachProcessor, as documented): the field's value is read;
 * missing or null is {@code field [f] is null, cannot loop over its elements.} unless
 * {@code ignore_missing}. A list: for each element, {@code _ingest._value} is the element, the
 * inner processor runs, and the (possibly changed) {@code _ingest._value} becomes the new element;
 * the field is then set to the new list. A map: the same for each entry, with {@code _ingest._key}
 * as well; the new map is built from the keys and values left in the metadata. The previous
 * {@code _ingest._value} / {@code _ingest._key} are restored after each element. Anything else is
 * {@code field [f] of type [java class] cannot be cast to a list or map}. A failing inner
 * processor fails the foreach with its exception.
 */
final class ForEachProcessor extends AbstractProcessor {
    static final String TYPE = "es8_foreach";

    private final String field;
    private final Processor processor;
    private final boolean ignoreMissing;

    private ForEachProcessor(String tag, String description, String field, Processor processor, boolean ignoreMissing) {
        super(tag, description);
        this.field = field;
        this.processor = processor;
        this.ignoreMissing = ignoreMissing;
    }

    @Override
    public IngestDocument execute(IngestDocument doc) throws Exception {
        Object o = doc.getFieldValue(field, Object.class, ignoreMissing);
        if (o == null) {
            if (ignoreMissing) {
                return doc;
            }
            throw new IllegalArgumentException("field [" + field + "] is null, cannot loop over its elements.");
        }
        Map<String, Object> meta = doc.getIngestMetadata();
        if (o instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            for (Object value : new ArrayList<>(list)) {
                Object previous = meta.put("_value", value);
                try {
                    if (run(processor, doc) == null) {
                        return null;
                    }
                } finally {
                    out.add(meta.put("_value", previous));
                }
            }
            doc.setFieldValue(field, out);
        } else if (o instanceof Map<?, ?> map) {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : new ArrayList<>(map.entrySet())) {
                Object previousKey = meta.put("_key", e.getKey());
                Object previousValue = meta.put("_value", e.getValue());
                try {
                    if (run(processor, doc) == null) {
                        return null;
                    }
                } finally {
                    Object key = meta.put("_key", previousKey);
                    Object value = meta.put("_value", previousValue);
                    out.put(key, value);
                }
            }
            doc.setFieldValue(field, out);
        } else {
            throw new IllegalArgumentException("field [" + field + "] of type [" + o.getClass().getName()
                + "] cannot be cast to a list or map");
        }
        return doc;
    }

    /**
     * Runs the inner processor through its handler form: an inner processor with its own
     * {@code on_failure} (or an {@code if}) is a compound/conditional wrapper, which only
     * implements that form (its plain {@code execute} throws "this method should not get
     * executed"). Every processor the pipelines use completes on the calling thread.
     */
    private static IngestDocument run(Processor p, IngestDocument doc) throws Exception {
        IngestDocument[] result = new IngestDocument[1];
        Exception[] error = new Exception[1];
        boolean[] done = new boolean[1];
        p.execute(doc, (r, e) -> {
            result[0] = r;
            error[0] = e;
            done[0] = true;
        });
        if (!done[0]) {
            throw new IllegalStateException("the processor inside foreach did not complete synchronously");
        }
        if (error[0] != null) {
            throw error[0];
        }
        return result[0];
    }

    @Override
    public String getType() {
        return "foreach";
    }

    static final class Factory implements Processor.Factory {
        private final ScriptService scriptService;

        Factory(ScriptService scriptService) {
            this.scriptService = scriptService;
        }

        @Override
        @SuppressWarnings("unchecked")
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) throws Exception {
            String field = ConfigurationUtils.readStringProperty("foreach", tag, config, "field");
            boolean ignoreMissing = ConfigurationUtils.readBooleanProperty("foreach", tag, config, "ignore_missing", false);
            Map<String, Map<String, Object>> inner = ConfigurationUtils.readMap("foreach", tag, config, "processor");
            if (inner.size() != 1) {
                throw ConfigurationUtils.newConfigurationException("foreach", tag, "processor", "Must specify exactly one processor type");
            }
            Map.Entry<String, Map<String, Object>> e = inner.entrySet().iterator().next();
            Processor processor = ConfigurationUtils.readProcessor(registry, scriptService, e.getKey(), e.getValue());
            return new ForEachProcessor(tag, description, field, processor, ignoreMissing);
        }
    }
}
