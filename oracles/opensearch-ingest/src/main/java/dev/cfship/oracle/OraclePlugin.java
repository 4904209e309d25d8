package dev.cfship.oracle;

import org.opensearch.common.settings.Setting;
import org.opensearch.ingest.Processor;
import org.opensearch.plugins.IngestPlugin;
import org.opensearch.plugins.Plugin;

import java.util.List;
import java.util.Map;

/** The Elasticsearch 8 processors Elastic's pipelines use that OpenSearch does not have. */
public final class OraclePlugin extends Plugin implements IngestPlugin {
    /**
     * ingest-geoip reads this setting (the database directory) but does not register it; a node
     * rejects unregistered settings, so it is registered here.
     */
    static final Setting<String> GEOIP_DATABASE_PATH = Setting.simpleString("ingest.geoip.database_path", Setting.Property.NodeScope);

    @Override
    public List<Setting<?>> getSettings() {
        return List.of(GEOIP_DATABASE_PATH);
    }

    @Override
    public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
        return Map.of(
            UriPartsProcessor.TYPE, new UriPartsProcessor.Factory(),
            SetCopyFromProcessor.TYPE, new SetCopyFromProcessor.Factory(),
            FingerprintProcessor.TYPE, new FingerprintProcessor.Factory(),
            ForEachProcessor.TYPE, new ForEachProcessor.Factory(parameters.scriptService),
            SetsToListsProcessor.TYPE, new SetsToListsProcessor.Factory(),
            ScriptProcessor.TYPE, new ScriptProcessor.Factory(parameters.scriptService));
    }
}
