package dev.cfship.oracle;

import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Not an Elasticsearch processor: the oracle's last step. Elasticsearch 8's ingest document may hold
 * a {@link java.util.Set} (a Painless script's {@code new HashSet()}, e.g. email_security_alerts'
 * {@code related.hosts}) and writes it out as a JSON array in the set's iteration order; the 7.10
 * fork's document copy, which {@code _simulate} makes of every result, rejects it ({@code unexpected
 * value type [class java.util.HashSet]}). {@link Pipelines} appends this processor to the end of a
 * Logpush pipeline's {@code processors} and of its {@code on_failure}, so nothing the pipeline does
 * sees the change: it replaces every set in the document by a list of its elements in iteration
 * order, which is what Elasticsearch 8 writes.
 */
final class SetsToListsProcessor extends AbstractProcessor {
    static final String TYPE = "oracle_sets_to_lists";

    private SetsToListsProcessor(String tag, String description) {
        super(tag, description);
    }

    @Override
    public IngestDocument execute(IngestDocument doc) {
        convert(doc.getSourceAndMetadata());
        return doc;
    }

    @SuppressWarnings("unchecked")
    private static Object convert(Object v) {
        if (v instanceof Map<?, ?> m) {
            for (Map.Entry<Object, Object> e : ((Map<Object, Object>) m).entrySet()) {
                e.setValue(convert(e.getValue()));
            }
            return m;
        }
        if (v instanceof List<?> l) {
            List<Object> list = (List<Object>) l;
            for (int i = 0; i < list.size(); i++) {
                list.set(i, convert(list.get(i)));
            }
            return list;
        }
        if (v instanceof Set<?> s) {
            List<Object> out = new ArrayList<>(s.size());
            for (Object x : s) {
                out.add(convert(x));
            }
            return out;
        }
        return v;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    static final class Factory implements Processor.Factory {
        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) {
            return new SetsToListsProcessor(tag, description);
        }
    }
}
