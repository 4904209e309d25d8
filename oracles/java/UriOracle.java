import java.io.BufferedReader;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * java.net.URI / java.net.URL oracle for cfship's uri_parts port. stdin: one JSON array per line,
 * `["<uri text>"]`. stdout, one line per input: `{"uri":{getters}|"uri_error":{reason,index},
 * "url":{getters}|"url_error":"msg", "parts":{what UriPartsProcessor.apply returns}|"error":"msg"}`.
 */
public final class UriOracle {
    public static void main(String[] args) throws Exception {
        BufferedReader in = OracleJson.stdin();
        PrintStream out = OracleJson.stdout();
        String line;
        while ((line = in.readLine()) != null) {
            String s = OracleJson.strings(line).get(0);
            out.println(OracleJson.object(run(s)));
        }
        out.flush();
    }

    @SuppressWarnings("deprecation")
    static Map<String, Object> run(String s) {
        Map<String, Object> r = new LinkedHashMap<>();
        URI uri = null;
        URL url = null;
        try {
            uri = new URI(s);
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("scheme", uri.getScheme());
            u.put("raw_ssp", uri.isOpaque() ? uri.getRawSchemeSpecificPart() : null);
            u.put("raw_authority", uri.getRawAuthority());
            u.put("raw_user_info", uri.getRawUserInfo());
            u.put("user_info", uri.getUserInfo());
            u.put("host", uri.getHost());
            u.put("port", uri.getPort());
            u.put("raw_path", uri.getRawPath());
            u.put("path", uri.getPath());
            u.put("raw_query", uri.getRawQuery());
            u.put("query", uri.getQuery());
            u.put("raw_fragment", uri.getRawFragment());
            u.put("fragment", uri.getFragment());
            r.put("uri", u);
        } catch (URISyntaxException e) {
            Map<String, Object> err = new LinkedHashMap<>();
            err.put("reason", e.getReason());
            err.put("index", e.getIndex());
            r.put("uri_error", err);
        }
        try {
            url = new URL(s);
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("protocol", url.getProtocol());
            u.put("host", url.getHost());
            u.put("port", url.getPort());
            u.put("path", url.getPath());
            u.put("query", url.getQuery());
            u.put("ref", url.getRef());
            u.put("user_info", url.getUserInfo());
            r.put("url", u);
        } catch (MalformedURLException | RuntimeException e) {
            r.put("url_error", String.valueOf(e.getMessage()));
        }
        if (uri != null) {
            r.put("parts", parts(uri.getHost(), uri.getFragment(), uri.getPath(), uri.getPort(),
                uri.getQuery(), uri.getScheme(), uri.getUserInfo()));
        } else if (url != null) {
            r.put("parts", parts(url.getHost(), url.getRef(), url.getPath(), url.getPort(),
                url.getQuery(), url.getProtocol(), url.getUserInfo()));
        } else {
            r.put("error", "unable to parse URI [" + s + "]");
        }
        return r;
    }

    /** The map Elasticsearch's UriPartsProcessor.getUriParts builds (same keys, same rules). */
    static Map<String, Object> parts(String domain, String fragment, String path, int port,
                                     String query, String scheme, String userInfo) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("domain", domain);
        if (fragment != null) p.put("fragment", fragment);
        if (path != null) {
            p.put("path", path);
            int last = path.lastIndexOf('/');
            if (last >= 0) {
                String seg = path.substring(last);
                int dot = seg.lastIndexOf('.');
                if (dot >= 0) p.put("extension", seg.substring(dot + 1));
            }
        }
        if (port != -1) p.put("port", port);
        if (query != null) p.put("query", query);
        p.put("scheme", scheme);
        if (userInfo != null) {
            p.put("user_info", userInfo);
            if (userInfo.contains(":")) {
                int c = userInfo.indexOf(':');
                p.put("username", userInfo.substring(0, c));
                p.put("password", c < userInfo.length() ? userInfo.substring(c + 1) : "");
            }
        }
        return p;
    }
}
