import APOPipeline
import APOStore
import Logging
