package dev.cfship.oracle;

import org.opensearch.core.common.util.CollectionUtils;
import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;
import org.opensearch.script.IngestScript;
import org.opensearch.script.Script;
import org.opensearch.script.ScriptService;

import java.lang.reflect.Method;
import java.util.Map;

/**
 * Elasticsearch 8's {@code script} processor: the script runs on the document itself. OpenSearch
 * 3's runs it on a deep copy and puts the copy back only when the script succeeds, which differs
 * in two ways: a script that fails part-way leaves its earlier changes in Elasticsearch (the
 * document the {@code on_failure} handlers see), none in the fork; and the fork's copy rejects a
 * {@link java.util.Set} a previous script left (email_security_alerts' {@code related.hosts}), so
 * every later script failed with {@code unexpected value type [class java.util.HashSet]}.
 * {@link Pipelines} renames every {@code script} of the Logpush pipelines to this processor; it
 * reports its type as {@code script}. Parsing and compiling are OpenSearch's own (its factory
 * reads the configuration; the parsed script is taken from it).
 */
final class ScriptProcessor extends AbstractProcessor {
    static final String TYPE = "es8_script";

    private final Script script;
    private final IngestScript.Factory factory;

    private ScriptProcessor(String tag, String description, Script script, IngestScript.Factory factory) {
        super(tag, description);
        this.script = script;
        this.factory = factory;
    }

    @Override
    public IngestDocument execute(IngestDocument doc) {
        factory.newInstance(script.getParams()).execute(doc.getSourceAndMetadata());
        CollectionUtils.ensureNoSelfReferences(doc.getSourceAndMetadata(), "ingest script");
        return doc;
    }

    @Override
    public String getType() {
        return "script";
    }

    static final class Factory implements Processor.Factory {
        private final ScriptService scriptService;
        private final org.opensearch.ingest.common.ScriptProcessor.Factory parse;

        Factory(ScriptService scriptService) {
            this.scriptService = scriptService;
            this.parse = new org.opensearch.ingest.common.ScriptProcessor.Factory(scriptService);
        }

        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) throws Exception {
            org.opensearch.ingest.common.ScriptProcessor parsed = parse.create(registry, tag, description, config);
            Method getScript = org.opensearch.ingest.common.ScriptProcessor.class.getDeclaredMethod("getScript");
            getScript.setAccessible(true);
            Script script = (Script) getScript.invoke(parsed);
            return new ScriptProcessor(tag, description, script, scriptService.compile(script, IngestScript.CONTEXT));
        }
    }
}
