package dev.cfship.oracle;

import org.opensearch.ingest.AbstractProcessor;
import org.opensearch.ingest.ConfigurationUtils;
import org.opensearch.ingest.IngestDocument;
import org.opensearch.ingest.Processor;

import java.net.MalformedURLException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.util.HashMap;
import java.util.Map;

/**
 * Elasticsearch 8's {@code uri_parts} ingest processor, which OpenSearch (forked from Elasticsearch
 * 7.10, before the processor existed) lacks. Written from its documented behaviour and the
 * Elasticsearch source (modules/ingest-common/.../UriPartsProcessor.java): parse with
 * {@link java.net.URI}; if that throws, with {@link java.net.URL}; if both throw, fail with
 * {@code unable to parse URI [<value>]}. The getters used are the decoded ones ({@code getHost},
 * {@code getPath}, {@code getQuery}, {@code getFragment}, {@code getUserInfo}); {@code domain} and
 * {@code scheme} are always set (possibly to null), the others only when present; the extension is
 * the text after the last '.' of the path's last '/'-segment; {@code original} is kept by default.
 * Options: field (required), target_field (url), keep_original (true), remove_if_successful
 * (false), ignore_missing (false).
 */
final class UriPartsProcessor extends AbstractProcessor {
    static final String TYPE = "uri_parts";

    private final String field;
    private final String targetField;
    private final boolean keepOriginal;
    private final boolean removeIfSuccessful;
    private final boolean ignoreMissing;

    private UriPartsProcessor(String tag, String description, String field, String targetField,
                              boolean keepOriginal, boolean removeIfSuccessful, boolean ignoreMissing) {
        super(tag, description);
        this.field = field;
        this.targetField = targetField;
        this.keepOriginal = keepOriginal;
        this.removeIfSuccessful = removeIfSuccessful;
        this.ignoreMissing = ignoreMissing;
    }

    @Override
    public IngestDocument execute(IngestDocument doc) {
        String value = doc.getFieldValue(field, String.class, ignoreMissing);
        if (value == null && ignoreMissing) {
            return doc;
        }
        Map<String, Object> parts = parts(value);
        if (keepOriginal) {
            parts.put("original", value);
        }
        if (removeIfSuccessful && !targetField.equals(field)) {
            doc.removeField(field);
        }
        doc.setFieldValue(targetField, parts);
        return doc;
    }

    @SuppressWarnings("deprecation") // new URL(String) is what Elasticsearch falls back to
    static Map<String, Object> parts(String value) {
        String host, fragment, path, query, scheme, userInfo;
        int port;
        try {
            URI uri = new URI(value);
            host = uri.getHost();
            fragment = uri.getFragment();
            path = uri.getPath();
            port = uri.getPort();
            query = uri.getQuery();
            scheme = uri.getScheme();
            userInfo = uri.getUserInfo();
        } catch (URISyntaxException notUri) {
            try {
                URL url = new URL(value);
                host = url.getHost();
                fragment = url.getRef();
                path = url.getPath();
                port = url.getPort();
                query = url.getQuery();
                scheme = url.getProtocol();
                userInfo = url.getUserInfo();
            } catch (MalformedURLException notUrl) {
                throw new IllegalArgumentException("unable to parse URI [" + value + "]");
            }
        }
        Map<String, Object> out = new HashMap<>();
        out.put("domain", host);
        if (fragment != null) {
            out.put("fragment", fragment);
        }
        if (path != null) {
            out.put("path", path);
            int slash = path.lastIndexOf('/');
            if (slash >= 0) {
                String last = path.substring(slash);
                int dot = last.lastIndexOf('.');
                if (dot >= 0) {
                    out.put("extension", last.substring(dot + 1));
                }
            }
        }
        if (port != -1) {
            out.put("port", port);
        }
        if (query != null) {
            out.put("query", query);
        }
        out.put("scheme", scheme);
        if (userInfo != null) {
            out.put("user_info", userInfo);
            int colon = userInfo.indexOf(':');
            if (colon >= 0) {
                out.put("username", userInfo.substring(0, colon));
                out.put("password", userInfo.substring(colon + 1));
            }
        }
        return out;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    static final class Factory implements Processor.Factory {
        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) {
            String field = ConfigurationUtils.readStringProperty(TYPE, tag, config, "field");
            String target = ConfigurationUtils.readStringProperty(TYPE, tag, config, "target_field", "url");
            boolean keep = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "keep_original", true);
            boolean remove = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "remove_if_successful", false);
            boolean ignore = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "ignore_missing", false);
            return new UriPartsProcessor(tag, description, field, target, keep, remove, ignore);
        }
    }
}
