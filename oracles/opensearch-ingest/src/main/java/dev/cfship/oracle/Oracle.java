package dev.cfship.oracle;

import org.opensearch.Version;
import org.opensearch.action.ingest.PutPipelineRequest;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.xcontent.XContentType;
import org.opensearch.core.common.bytes.BytesArray;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.ingest.common.IngestCommonModulePlugin;
import org.opensearch.ingest.geoip.IngestGeoIpModulePlugin;
import org.opensearch.ingest.useragent.IngestUserAgentModulePlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessModulePlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.PluginInfo;
import org.opensearch.script.mustache.MustacheModulePlugin;
import org.opensearch.transport.Netty4ModulePlugin;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * One embedded OpenSearch node with the ingest modules as classpath plugins, serving Elastic's
 * cloudflare ingest pipelines (with the few edits {@link Pipelines} lists) over HTTP on 127.0.0.1.
 *
 * <pre>
 * java -cp ... dev.cfship.oracle.Oracle --work DIR --geoip DIR --ua-regexes FILE [--manifest TSV --pipelines DIR]
 *     [--logpush-manifest TSV --logpush-pipelines DIR]
 * </pre>
 *
 * Prints {@code CFSHIP-ORACLE-READY <port>} on stdout once the pipelines are installed, then serves
 * until stdin reaches end of file (so the node dies with the process that started it). OpenSearch's
 * own logs go to stderr. Use {@code POST /_ingest/pipeline/<id>/_simulate} with thousands of
 * documents per request: the pipelines run one document after the other there.
 */
public final class Oracle {
    public static void main(String[] args) throws Exception {
        Map<String, String> opts = Args.parse(args, List.of("work", "geoip", "ua-regexes"));
        Path work = Path.of(opts.get("work")).toAbsolutePath();
        Path home = work.resolve("home");
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(home.resolve("modules"));

        // GeoIP: MaxMind's test databases under the names the pipelines' geoip processors load.
        Path geoSrc = Path.of(opts.get("geoip"));
        // ingest-geoip reads its databases from ingest.geoip.database_path when set (registered by
        // OraclePlugin), else from the module's installation directory, which a classpath node lacks.
        Path geoDir = work.resolve("geoip");
        Files.createDirectories(geoDir);
        for (String db : List.of("City", "ASN", "Country")) {
            Path src = firstExisting(geoSrc.resolve("GeoLite2-" + db + "-Test.mmdb"), geoSrc.resolve("GeoLite2-" + db + ".mmdb"));
            Files.copy(src, geoDir.resolve("GeoLite2-" + db + ".mmdb"), StandardCopyOption.REPLACE_EXISTING);
        }
        // user_agent: Elasticsearch 8's regexes file as a custom regex_file (see Pipelines).
        Path uaDir = config.resolve("ingest-user-agent");
        Files.createDirectories(uaDir);
        Files.copy(Path.of(opts.get("ua-regexes")), uaDir.resolve(Pipelines.ES8_REGEX_FILE), StandardCopyOption.REPLACE_EXISTING);

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", work.resolve("data").toString())
            .put("path.logs", work.resolve("logs").toString())
            .put("cluster.name", "cfship-ingest-oracle")
            .put("node.name", "oracle")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "0")
            .put("transport.port", "0")
            .put(OraclePlugin.GEOIP_DATABASE_PATH.getKey(), geoDir.toString())
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("http.max_content_length", "500mb")
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "oracle");

        List<Class<? extends Plugin>> plugins = List.of(
            Netty4ModulePlugin.class, IngestCommonModulePlugin.class, PainlessModulePlugin.class,
            MustacheModulePlugin.class, IngestUserAgentModulePlugin.class, IngestGeoIpModulePlugin.class,
            OraclePlugin.class);
        Node node = new EmbeddedNode(env, plugins);
        node.start();

        // Both optional: Elastic's cloudflare (Logpull, audit) and cloudflare_logpush pipelines, kept
        // outside the repository; without them the node still serves the user_agent comparison.
        List<Pipelines.Pipeline> pipelines = new ArrayList<>();
        if (opts.containsKey("pipelines") && opts.containsKey("manifest")) {
            pipelines.addAll(Pipelines.load(Path.of(opts.get("manifest")), Path.of(opts.get("pipelines"))));
        }
        if (opts.containsKey("logpush-manifest") && opts.containsKey("logpush-pipelines")) {
            pipelines.addAll(Pipelines.loadLogpush(Path.of(opts.get("logpush-manifest")), Path.of(opts.get("logpush-pipelines"))));
        }
        for (Pipelines.Pipeline p : pipelines) {
            node.client().admin().cluster()
                .putPipeline(new PutPipelineRequest(p.id(), new BytesArray(p.json().getBytes(StandardCharsets.UTF_8)), XContentType.JSON))
                .actionGet();
        }
        int port = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        System.out.println("CFSHIP-ORACLE-READY " + port);
        System.out.flush();

        InputStream in = System.in;
        byte[] buf = new byte[256];
        while (in.read(buf) >= 0) {
            // serve until the parent closes our stdin (or dies)
        }
        node.close();
        System.exit(0);
    }

    private static Path firstExisting(Path... candidates) throws IOException {
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new IOException("none of " + List.of(candidates) + " exists");
    }

    /** {@link Node}'s constructor that takes classpath plugins is protected. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, infos(plugins), true);
        }

        private static List<PluginInfo> infos(Collection<Class<? extends Plugin>> plugins) {
            List<PluginInfo> out = new ArrayList<>();
            for (Class<? extends Plugin> p : plugins) {
                out.add(new PluginInfo(p.getName(), "classpath plugin", "NA", Version.CURRENT, "21", p.getName(), null, List.of(), false));
            }
            return out;
        }
    }
}
