package dev.cfship.oracle;

import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.ConfigurationUtils;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;

import java.util.Map;

/**
 * Elasticsearch 8's {@code set} processor with {@code copy_from} (added in Elasticsearch 7.11, after
 * OpenSearch forked; OpenSearch's {@code set} only takes {@code value}). {@link Pipelines} renames
 * every {@code set} that has {@code copy_from} to this processor; it reports its type as
 * {@code set}, so {@code _ingest.on_failure_processor_type} and error messages are Elasticsearch's.
 *
 * <p>Semantics (Elasticsearch's SetProcessor): when {@code override} is true (default), or the target
 * is missing or null, read {@code copy_from} (missing: null when {@code ignore_empty_value}, else the
 * error {@code field [x] not present as part of path [x]}), and write a deep copy of it to
 * {@code field}, skipping null and "" when {@code ignore_empty_value} is set.
 */
final class SetCopyFromProcessor extends AbstractProcessor {
    static final String TYPE = "es8_set_copy_from";

    private final String field;
    private final String copyFrom;
    private final boolean override;
    private final boolean ignoreEmptyValue;

    private SetCopyFromProcessor(String tag, String description, String field, String copyFrom,
                                 boolean override, boolean ignoreEmptyValue) {
        super(tag, description);
        this.field = field;
        this.copyFrom = copyFrom;
        this.override = override;
        this.ignoreEmptyValue = ignoreEmptyValue;
    }

    @Override
    public IngestDocument execute(IngestDocument doc) {
        if (override || !doc.hasField(field) || doc.getFieldValue(field, Object.class) == null) {
            Object value = doc.getFieldValue(copyFrom, Object.class, ignoreEmptyValue);
            if (ignoreEmptyValue && (value == null || (value instanceof String s && s.isEmpty()))) {
                return doc;
            }
            doc.setFieldValue(field, IngestDocument.deepCopy(value));
        }
        return doc;
    }

    @Override
    public String getType() {
        return "set";
    }

    static final class Factory implements Processor.Factory {
        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) {
            String field = ConfigurationUtils.readStringProperty("set", tag, config, "field");
            String copyFrom = ConfigurationUtils.readStringProperty("set", tag, config, "copy_from");
            boolean override = ConfigurationUtils.readBooleanProperty("set", tag, config, "override", true);
            boolean ignoreEmpty = ConfigurationUtils.readBooleanProperty("set", tag, config, "ignore_empty_value", false);
            return new SetCopyFromProcessor(tag, description, field, copyFrom, override, ignoreEmpty);
        }
    }
}
