import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassFileVersion;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.ClassModel;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Build step (Maven's package phase, after the shade): raises the class files of one package in jkvm's jar from a
 * version before Java 6 (picocli's are Java 5's) to Java 8's, with stack maps computed. The JDK's ahead-of-time cache
 * holds no class older than Java 6, so without this every start loads, verifies and links those classes anew. Each
 * class rewritten is checked with the JDK's verifier; the jar is replaced only when all pass.
 *
 * Usage: java scripts/ClassVersionRaise.java JAR PACKAGE_PREFIX (e.g. target/jkvm.jar picocli/)
 */
public class ClassVersionRaise {
    private static final int JAVA_6 = 50, JAVA_8 = 52;

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: java scripts/ClassVersionRaise.java JAR PACKAGE_PREFIX");
            System.exit(2);
        }
        Path jar = Path.of(args[0]);
        String prefix = args[1];
        Path out = jar.resolveSibling(jar.getFileName() + ".raising");
        boolean prefixSeen = false;
        try (URLClassLoader classes = new URLClassLoader(new URL[]{jar.toUri().toURL()}, null);
             InputStream in0 = Files.newInputStream(jar); ZipInputStream in = new ZipInputStream(in0);
             OutputStream out0 = Files.newOutputStream(out); ZipOutputStream zip = new ZipOutputStream(out0)) {
            // stack maps merge types at branch joins: the class hierarchy comes from the jar itself, then the JDK
            ClassFile classFile = ClassFile.of(ClassFile.StackMapsOption.GENERATE_STACK_MAPS,
                    ClassFile.ClassHierarchyResolverOption.of(ClassHierarchyResolver.ofResourceParsing(classes)
                            .orElse(ClassHierarchyResolver.defaultResolver())));
            ZipEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                byte[] bytes = in.readAllBytes();
                if (entry.getName().startsWith(prefix) && entry.getName().endsWith(".class")) {
                    prefixSeen = true;
                    ClassModel model = classFile.parse(bytes);
                    if (model.majorVersion() < JAVA_6) {
                        bytes = raise(classFile, model, entry.getName());
                    }
                }
                ZipEntry copy = new ZipEntry(entry.getName());
                copy.setTime(entry.getTime());
                zip.putNextEntry(copy);
                zip.write(bytes);
                zip.closeEntry();
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(out);
            System.err.println("ClassVersionRaise: " + jar + ": " + e.getMessage());
            System.exit(1);
        }
        if (!prefixSeen) {
            Files.deleteIfExists(out);
            System.err.println("ClassVersionRaise: " + jar + " has no class under " + prefix + ": name the package the jar holds");
            System.exit(1);
        }
        Files.move(out, jar, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static byte[] raise(ClassFile classFile, ClassModel model, String name) {
        // every method body is rebuilt, so each gets its stack map; the version element is replaced
        byte[] raised = classFile.transformClass(model, ClassTransform.transformingMethodBodies(CodeTransform.ACCEPT_ALL)
                .andThen((builder, element) -> {
                    if (element instanceof ClassFileVersion) {
                        builder.withVersion(JAVA_8, 0);
                    } else {
                        builder.with(element);
                    }
                }));
        List<VerifyError> errors = classFile.verify(raised);
        if (!errors.isEmpty()) {
            throw new IllegalStateException(name + " fails verification once raised: " + errors.getFirst().getMessage());
        }
        return raised;
    }
}
